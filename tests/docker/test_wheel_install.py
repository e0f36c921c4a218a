"""The docker backend from an installed wheel: build imfault's wheel, install it into a fresh venv
and, from a directory outside the checkout, start a 2-DC docker cluster, check every node answers
its admin status with health "ok", and stop it.

The fresh venv gets only the wheel (`--no-index --no-deps`); its dependencies (docker-py, ...) come
from this interpreter's site-packages through a `.pth` line, which adds that directory to sys.path
after the venv's own site-packages without processing its `.pth` files (so this checkout's editable
install stays out). The child asserts that `harness` and `imcluster` are imported from the venv.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]

CHILD = """
import asyncio, json, sys
from pathlib import Path
import harness, imcluster
from harness.backends import ClusterSpec
from harness.backends.docker import DockerBackend

venv = Path(sys.prefix).resolve()
for module in (harness, imcluster):
    assert Path(module.__file__).resolve().is_relative_to(venv), (module.__file__, venv)

async def statuses(backend):
    return {n.name: (await backend.admin_status(n.name))["health"] for n in backend.nodes()}

backend = DockerBackend()
try:
    backend.start(ClusterSpec(dcs=2, wan_latency_ms=20, work_dir=Path(sys.argv[1])))
    health = asyncio.run(statuses(backend))
finally:
    backend.stop()
print(json.dumps({"harness": harness.__file__, "health": health}))
"""


def _run(command: list[str], timeout: float, **kwargs: object) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False,
                          **kwargs)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return str(done.stdout)


def test_docker_backend_runs_from_an_installed_wheel(docker_engine: None, tmp_path: Path) -> None:
    # built from a copy of the project's sources: setuptools' build/ stays out of the checkout
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("imcluster", "harness", "checkers", "reports"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(source)],
         timeout=180)
    (wheel,) = wheels.glob("imfault-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], timeout=60)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
          "--no-deps", str(wheel)], timeout=120)
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                     timeout=30).strip())
    (site / "imfault_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    child = subprocess.Popen(
        [str(python), "-c", CHILD, str(tmp_path / "cluster")], cwd=outside,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")},
    )
    try:
        stdout, stderr = child.communicate(timeout=150)
    finally:
        if child.poll() is None:  # the backend stops its containers on SIGINT
            child.send_signal(signal.SIGINT)
            try:
                child.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.communicate()
    assert child.returncode == 0, stderr[-3000:]
    outcome = json.loads(stdout.strip().splitlines()[-1])
    assert Path(outcome["harness"]).resolve().is_relative_to(venv.resolve())
    assert outcome["health"] == {"dc1-hub": "ok", "dc1-a1": "ok", "dc2-hub": "ok", "dc2-a1": "ok"}
