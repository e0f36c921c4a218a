"""Measure the docker backend's costs: building the images (from nothing with --from-scratch,
else whatever is cached), bringing up an N-DC cluster, and tearing it down.

usage: .venv/bin/python benchmarks/docker_measure.py [--from-scratch] [--dcs 5] [--repeat 3]
Prints one JSON object with seconds per step (the numbers in docs/docker.md come from it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from harness.backends import ClusterSpec
from harness.backends._docker_engine import docker_client
from harness.backends._docker_images import IMAGE_KIND_LABEL, ensure_images
from harness.backends.docker import DockerBackend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--from-scratch", action="store_true",
                        help="remove every imfault image first (forces a debootstrap build)")
    parser.add_argument("--dcs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    client = docker_client()
    result: dict[str, object] = {"dcs": args.dcs}
    if args.from_scratch:
        for kind in ("node", "toxiproxy", "base"):
            for image in client.images.list(filters={"label": f"{IMAGE_KIND_LABEL}={kind}"}):
                client.images.remove(image.id, force=True)
    started = time.monotonic()
    ensure_images(client)
    result["images_s"] = round(time.monotonic() - started, 2)
    started = time.monotonic()
    ensure_images(client)
    result["images_cached_s"] = round(time.monotonic() - started, 2)
    up, down = [], []
    for _ in range(args.repeat):
        backend = DockerBackend()
        spec = ClusterSpec(dcs=args.dcs, work_dir=Path(tempfile.mkdtemp(prefix="imfault-measure-")))
        started = time.monotonic()
        try:
            backend.start(spec)
            up.append(time.monotonic() - started)
        finally:
            started = time.monotonic()
            backend.stop()
            down.append(time.monotonic() - started)
    result["up_s"] = [round(x, 2) for x in up]
    result["up_median_s"] = round(statistics.median(up), 2)
    result["stop_median_s"] = round(statistics.median(down), 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
