"""`imfault run --backend sim` from the command line: the issue's two commands (shortened to 60
virtual seconds), the same run directory files as every backend, virtual times in test.json."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imfault_run(store: Path, *args: str) -> tuple[int, Path]:
    command = [sys.executable, "-m", "harness", "run", "--backend", "sim", "--dcs", "5",
               "--time-limit", "60", "--seed", "7", "--store", str(store), "--no-progress",
               *args]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                          env=dict(os.environ), check=False)
    return done.returncode, (store / "latest").resolve()


def test_partition_halves_is_valid_and_writes_the_run_directory(tmp_path: Path) -> None:
    code, run = imfault_run(tmp_path, "--nemesis", "partition-halves")
    assert code == 0, run
    for name in ("test.json", "history.jsonl", "events.jsonl", "final.json", "results.json",
                 "report.html", "logs/dc1-hub.log", "logs/dc5-a1.log"):
        assert (run / name).is_file(), name
    test = json.loads((run / "test.json").read_text())
    assert test["backend"] == "sim" and test["clock"] == "virtual"
    main_start, main_end = test["phases"]["main"]
    assert 59.9e9 <= main_end - main_start <= 61e9  # virtual ns
    assert test["sim"]["virtual_s"] > 60
    final = json.loads((run / "final.json").read_text())
    assert final["converged"] and set(final["hubs"]) == {f"dc{i}" for i in range(1, 6)}
    assert all(hub["vv"] and hub["coords"] is not None for hub in final["hubs"].values())
    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is True and results["convergence"]["heals"]


def test_volatile_store_with_partition_one_and_kill_loses_messages(tmp_path: Path) -> None:
    code, run = imfault_run(tmp_path, "--bug", "volatile-store", "--nemesis", "partition-one,kill")
    results = json.loads((run / "results.json").read_text())
    assert code == 1 and results["valid"] is False
    assert results["delivery"]["lost_count"] > 0, run
