"""Determinism: the same options and seed give byte-identical `history.jsonl` and `events.jsonl`
on the sim backend, twice in one process and once in a fresh process under another
PYTHONHASHSEED (iteration over sets, hash order and the environment must not leak)."""

from __future__ import annotations

import gc
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.ops import Op
from harness.runner import RunOptions, RunState
from harness.sim import _driver, run_sim_test

REPO = Path(__file__).resolve().parents[2]
FILES = ("history.jsonl", "events.jsonl")


def options(store: Path) -> RunOptions:
    # every kind of fault the sim models, roaming users, two access nodes per DC
    return RunOptions(backend="sim", dcs=4, access_per_dc=2, users=24, rate=30, time_limit=24,
                      nemesis=["partition-halves", "kill", "pause", "clock-skew", "wan-degrade"],
                      nemesis_interval=2, roam=0.4, seed=5, store=str(store),
                      recovery_timeout=30)


def digests(run_dir: Path) -> dict[str, str]:
    return {name: hashlib.sha256((run_dir / name).read_bytes()).hexdigest() for name in FILES}


def test_same_seed_same_bytes_in_process_and_under_another_hash_seed(tmp_path: Path) -> None:
    first = run_sim_test(options(tmp_path / "a"), check=False).run_dir
    second = run_sim_test(options(tmp_path / "b"), check=False).run_dir
    assert digests(first) == digests(second)
    history = (first / "history.jsonl").read_text().splitlines()
    assert len(history) > 500
    nemesis_ops = [json.loads(line) for line in history if '"process":"nemesis"' in line]
    assert not [op for op in nemesis_ops if "error" in op]  # every fault and heal happened
    faults = {op["f"] for op in nemesis_ops}
    assert {"start-partition", "kill", "pause", "bump-clock", "start-wan"} <= faults
    assert (first / "events.jsonl").stat().st_size > 0

    code = ("import json, sys\n"
            "from pathlib import Path\n"
            "sys.path.insert(0, sys.argv[2])\n"
            "from test_sim_determinism import options\n"
            "from harness.sim import run_sim_test\n"
            "print(run_sim_test(options(Path(sys.argv[1])), check=False).run_dir)\n")
    env = dict(os.environ, PYTHONHASHSEED=str(int(os.environ.get("PYTHONHASHSEED") or 0) + 101))
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c"),
                           str(Path(__file__).parent)], cwd=REPO, env=env, check=True,
                          capture_output=True, text=True, timeout=600)
    third = Path(done.stdout.strip().splitlines()[-1])
    assert digests(third) == digests(first)


def test_another_seed_gives_another_history(tmp_path: Path) -> None:
    base = options(tmp_path / "a")
    base.time_limit = 6
    first = run_sim_test(base, check=False).run_dir
    base.seed, base.store = 6, str(tmp_path / "b")
    other = run_sim_test(base, check=False).run_dir
    assert digests(first)["history.jsonl"] != digests(other)["history.jsonl"]


def test_collector_thresholds_hold_during_the_run_only_and_change_no_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sim raises the cyclic collector's thresholds while it runs (`fewer_collections`), and
    when collections happen leaks into no output."""
    seen: set[tuple[int, ...]] = set()

    class Watch(RunState):
        def on_op(self, op: Op) -> None:
            seen.add(gc.get_threshold())
            super().on_op(op)

    before = gc.get_threshold()
    short = options(tmp_path / "a")
    short.time_limit = 6
    raised = run_sim_test(short, state=Watch(), check=False).run_dir
    assert seen == {_driver.GC_THRESHOLDS}
    assert gc.get_threshold() == before
    monkeypatch.setattr(_driver, "GC_THRESHOLDS", (700, 10, 10))  # CPython's default
    short.store = str(tmp_path / "b")
    default = run_sim_test(short, check=False).run_dir
    assert digests(raised) == digests(default)
