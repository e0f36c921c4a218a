"""The optional compiled build (docs/accel.md): byte-identical outputs to pure Python, used only
when built and fresh, and said in test.json."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from imcluster import _accel

REPO = Path(__file__).resolve().parents[2]
FILES = ("history.jsonl", "events.jsonl", "schedule.json", "final.json")
CHILD = """
import json, sys
from harness.runner import RunOptions
from harness.sim import run_sim_test
shape = json.loads(sys.argv[2])
run = run_sim_test(RunOptions(backend="sim", store=sys.argv[1], **shape), check=False)
print(run.run_dir)
"""
SHAPES = {
    # benchmarks/sim_speed.py's shape, briefly
    "benchmark": {"dcs": 5, "users": 50, "rate": 50, "time_limit": 20,
                  "nemesis": ["partition-halves"], "seed": 7},
    # degraded links (SimCluster's own WAN path), kills, roaming users
    "degraded": {"dcs": 4, "users": 30, "rate": 40, "time_limit": 20, "roam": 0.5,
                 "nemesis": ["wan-degrade", "partition-one", "kill"], "nemesis_interval": 2,
                 "seed": 11},
}


def run_with(build: str, store: Path, shape: dict[str, object]) -> Path:
    env = dict(os.environ, IMFAULT_ACCEL="1" if build == "compiled" else "0")
    done = subprocess.run([sys.executable, "-c", CHILD, str(store), json.dumps(shape)],
                          cwd=REPO, env=env, check=True, capture_output=True, text=True,
                          timeout=600)
    return Path(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_compiled_and_pure_builds_write_the_same_bytes(tmp_path: Path, shape: str) -> None:
    usable, why = _accel._check()
    if not usable:
        if os.environ.get("IMFAULT_REQUIRE_ACCEL") == "1":  # CI builds it (.ci/run)
            pytest.fail(f"IMFAULT_REQUIRE_ACCEL=1 but no usable compiled build: {why}",
                        pytrace=False)
        pytest.skip(f"no usable compiled build to compare with ({why})")
    runs = {build: run_with(build, tmp_path / build, SHAPES[shape])
            for build in ("pure", "compiled")}
    digests = {build: {name: hashlib.sha256((run / name).read_bytes()).hexdigest()
                       for name in FILES} for build, run in runs.items()}
    assert digests["compiled"] == digests["pure"]
    accel = {build: json.loads((run / "test.json").read_text())["sim"]["accel"]
             for build, run in runs.items()}
    assert accel["pure"]["build"] == "pure" and accel["pure"]["compiled_modules"] == []
    assert accel["compiled"]["build"] == "compiled"
    # every module of the build was loaded compiled (`harness.history` and `harness.ops` too,
    # through `harness`'s own activation)
    assert accel["compiled"]["compiled_modules"] == sorted(
        path.removesuffix(".py").replace("/", ".") for path in _accel.COMPILED)


def test_a_stale_or_foreign_build_is_not_used(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = tmp_path / "manifest.json"
    monkeypatch.setattr(_accel, "MANIFEST", manifest)
    assert _accel._check() == (False, ("pure Python (no compiled build: scripts/build-accel "
                                       "makes one)"))
    sources = _accel.source_digests()
    stale = dict(sources, **{"imcluster/_hub.py": "0" * 64})
    manifest.write_text(json.dumps({"cache_tag": sys.implementation.cache_tag,
                                    "modules": ["imcluster/_hub.py"], "sources": stale}))
    usable, why = _accel._check()
    assert not usable and "stale: imcluster/_hub.py changed" in why
    manifest.write_text(json.dumps({"cache_tag": "cpython-00", "modules": [],
                                    "sources": sources}))
    assert _accel._check() == (False, ("pure Python (compiled for cpython-00, running "
                                       f"{sys.implementation.cache_tag})"))
    manifest.write_text(json.dumps({"cache_tag": sys.implementation.cache_tag,
                                    "modules": ["imcluster/_hub.py"], "sources": sources}))
    assert _accel._check()[0]


def test_asking_for_an_unusable_compiled_build_is_an_error(tmp_path: Path) -> None:
    env = dict(os.environ, IMFAULT_ACCEL="1")
    code = ("from imcluster import _accel\n"
            "_accel.MANIFEST = _accel.Path(__import__('sys').argv[1])\n"
            "_accel.status.cache_clear()\n"
            "_accel.status()\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "none.json")], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode != 0
    assert "IMFAULT_ACCEL=1 but the compiled build is unusable: pure Python (no compiled build" \
        in done.stderr


def test_node_processes_always_run_pure_python() -> None:
    assert _accel.node_process(["python", "-m", "imcluster", "hub", "--dc", "dc1"])
    assert not _accel.node_process(["python", "-m", "harness", "run", "--backend", "sim"])
    assert not _accel.node_process(["python", "-c", "import imcluster", "-m", "x"])
    assert not _accel.node_process(["python", "-m"])
    env = dict(os.environ, IMFAULT_ACCEL="1")  # even when asked for: a node never uses it
    done = subprocess.run([sys.executable, "-m", "imcluster", "--help"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60, check=True)
    assert "usage" in done.stdout
