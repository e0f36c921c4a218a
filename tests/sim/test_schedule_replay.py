"""Schedules as data: every run writes `schedule.json`; `imfault run --schedule FILE` replays
its fault schedule, on sim (byte-identical nemesis history) and on local (same faults, same
offsets); a bad schedule file is a usage error (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness._cli_run import options_from_args
from harness.cli import build_parser, main
from harness.history import read_history
from harness.runner import run_test

RECORD = ["--backend", "sim", "--dcs", "3", "--users", "10", "--rate", "20", "--time-limit",
          "12", "--nemesis", "partition-halves,kill", "--nemesis-interval", "2.5",
          "--recovery-timeout", "30", "--seed", "11"]


def _run(store: Path, *argv: str) -> Path:
    options = options_from_args(build_parser().parse_args(["run", "--store", str(store), *argv]))
    return run_test(options).run_dir


def _nemesis_lines(run_dir: Path) -> list[str]:
    return [line for line in (run_dir / "history.jsonl").read_text().splitlines()
            if '"process":"nemesis"' in line.replace(" ", "")]


def _invokes(run_dir: Path) -> list[tuple[float, str, Any]]:
    test = json.loads((run_dir / "test.json").read_text())
    main_start = test["phases"]["main"][0]
    return [((op.time - main_start) / 1e9, op.f, op.value)
            for op in read_history(run_dir / "history.jsonl")
            if op.process == "nemesis" and op.type == "invoke"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _run(tmp_path_factory.mktemp("record"), *RECORD)


def test_every_run_writes_its_schedule(recorded: Path) -> None:
    schedule = json.loads((recorded / "schedule.json").read_text())
    assert schedule["nemesis"] == ["partition-halves", "kill"]
    assert schedule["workload"]["seed"] == 11 and schedule["workload"]["dcs"] == 3
    fs = [op["f"] for op in schedule["ops"]]
    assert {"start-partition", "stop-partition", "kill", "start"} <= set(fs)
    assert all(op["at_s"] < 12 for op in schedule["ops"])
    # the ops recorded are the ops the run invoked, at their offsets
    invoked = [(f, value) for _, f, value in _invokes(recorded)]
    assert invoked == [(op["f"], op["value"])
                       for op in schedule["ops"] + schedule["final_ops"]]


def test_sim_replay_gives_a_byte_identical_nemesis_history(recorded: Path,
                                                           tmp_path: Path) -> None:
    replay = _run(tmp_path, "--backend", "sim", "--schedule", str(recorded / "schedule.json"))
    assert _nemesis_lines(replay) == _nemesis_lines(recorded)
    assert _nemesis_lines(replay)
    assert (replay / "schedule.json").read_text() == (recorded / "schedule.json").read_text()
    test = json.loads((replay / "test.json").read_text())
    assert test["schedule"] == str((recorded / "schedule.json").resolve())
    assert "--schedule" in test["command"]


def test_sim_schedule_replays_on_local(recorded: Path, tmp_path: Path,
                                       toxiproxy_server: Path) -> None:
    replay = _run(tmp_path, "--backend", "local", "--schedule", str(recorded / "schedule.json"))
    expected, got = _invokes(recorded), _invokes(replay)
    assert [(f, v) for _, f, v in got] == [(f, v) for _, f, v in expected]
    main_ops = len(json.loads((recorded / "schedule.json").read_text())["ops"])
    for (t_sim, f, _), (t_local, _, _) in zip(expected[:main_ops], got[:main_ops]):
        assert abs(t_local - t_sim) < 1.0, (f, t_sim, t_local)


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "not JSON"),
    ("[]", "JSON object"),
    (('{"format": 1, "nemesis": ["partition-nowhere"], "workload": {}, "ops": [], '
      '"final_ops": []}'), "lacks"),
])
def test_a_bad_schedule_file_exits_2(tmp_path: Path, content: str, fragment: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "schedule.json"
    path.write_text(content)
    assert main(["run", "--store", str(tmp_path), "--schedule", str(path)]) == 2
    assert fragment in capsys.readouterr().err


def test_a_schedule_naming_an_unknown_nemesis_or_op_exits_2(recorded: Path, tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    schedule = json.loads((recorded / "schedule.json").read_text())
    for change, fragment in ((("nemesis", ["partition-nowhere"]), "unknown nemesis"),
                             (("ops", [{"at_s": 1, "f": "explode", "value": {}}]), "explode")):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({**schedule, change[0]: change[1]}))
        assert main(["run", "--store", str(tmp_path), "--schedule", str(path)]) == 2
        err = capsys.readouterr().err
        assert fragment in err and "--schedule" in err, err
    assert main(["run", "--store", str(tmp_path), "--schedule", str(tmp_path / "none")]) == 2
