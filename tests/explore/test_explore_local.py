"""The schedule `imfault explore` shrinks on sim, replayed on the local backend (real node
processes, real toxiproxy-server), is invalid for the same reason: for `gateway-drop` (no fault
needed: a forward races a logout) and `no-anti-entropy` (one partition: what the cut-off DC
missed never comes back); and for `wallclock-lww` the schedule `imfault explore --bug wallclock-lww
--seed 1` shrank to (one `clock-ahead` bump, stored in data/), replayed on sim and on local."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from harness._cli_run import options_from_args
from harness.cli import build_parser
from harness.explore import reason_of
from harness.history import read_history
from harness.runner import run_test

pytestmark = pytest.mark.integration

WALLCLOCK_SCHEDULE = Path(__file__).parent / "data" / "wallclock_lww_schedule.json"


@pytest.mark.parametrize("bug", ["gateway-drop", "no-anti-entropy"])
def test_the_shrunk_schedule_fails_on_local_for_the_same_reason(bug: str, im_explore: Any,
                                                                 tmp_path: Path) -> None:
    found = im_explore(bug=bug, examples=100, users=3, time_limit=3, seed=1, fail=False,
                       store=str(tmp_path))
    assert found.found and found.exit_code == 1, found.describe()
    schedule = json.loads((found.run_dir / "schedule.json").read_text())
    assert len(schedule["ops"]) <= 3
    argv = shlex.split(found.replay["local"])[1:]
    for attempt in range(2):  # real time on a shared machine: one rerun (COMMON.md)
        replayed = run_test(options_from_args(build_parser().parse_args(argv)))
        invoked = [(op.f, op.value) for op in read_history(replayed.run_dir / "history.jsonl")
                   if op.process == "nemesis" and op.type == "invoke"]
        played = invoked[:len(schedule["ops"])] == [(op["f"], op["value"])
                                                    for op in schedule["ops"]]
        if played and replayed.results["valid"] is False:
            break
    assert played, f"the local run did not play every fault op in time: {invoked}"
    assert reason_of(replayed.results) == found.reason, (found.describe(), replayed.run_dir)
    assert replayed.exit_code == 1


def test_the_explored_wallclock_lww_schedule_misroutes_on_sim_and_on_local(tmp_path: Path) -> None:
    """dc2's hub runs 5 s ahead for the whole main phase: u002's last logout there (9.6 s in)
    is stamped 14.6 s and outlives the heal, so its recovery login at 10 s loses: every hub keeps
    u002 offline at dc2 (before `clock-ahead`, explore's shrunk skew was valid on local)."""
    argv = ["run", "--dcs", "3", "--bug", "wallclock-lww", "--nemesis", "clock-ahead",
            "--store", str(tmp_path), "--schedule", str(WALLCLOCK_SCHEDULE)]
    for backend in ("sim", "local"):
        for attempt in range(2):  # real time on a shared machine: one rerun (COMMON.md)
            run = run_test(options_from_args(build_parser().parse_args(
                [*argv, "--backend", backend])))
            if run.results["valid"] is False:
                break
        assert reason_of(run.results) == "routing", (backend, run.run_dir)
        assert run.results["routing"]["wrong_users"] == ["u002"], (backend, run.run_dir)
        assert all(w["found"]["dc"] == "dc2" and w["found"]["online"] is False
                   for w in run.results["routing"]["wrong"]), (backend, run.run_dir)


def test_confirm_on_local_replays_the_minimal_schedule_there(im_explore: Any,
                                                               tmp_path: Path) -> None:
    """`--confirm-on local` (here the fixture's `confirm_on`): the shrunk schedule runs on real
    node processes after the search, with every fault op it holds, and the outcome is printed and
    kept in `explore.json` (whether it reproduced depends on real timing: not asserted)."""
    found = im_explore(bug="gateway-drop", examples=60, users=6, time_limit=4, seed=1,
                       fail=False, store=str(tmp_path), confirm_on="local")
    assert found.found, found.describe()
    confirmation = found.confirmation
    assert confirmation is not None and confirmation.backend == "local", found.describe()
    assert confirmation.verdict in (True, False, "unknown") and confirmation.run_dir is not None
    test = json.loads((confirmation.run_dir / "test.json").read_text())
    assert test["backend"] == "local" and test["schedule"] == found.options.schedule
    schedule = json.loads((found.run_dir / "schedule.json").read_text())
    invoked = [(op.f, op.value) for op in read_history(confirmation.run_dir / "history.jsonl")
               if op.process == "nemesis" and op.type == "invoke"]
    assert invoked[:len(schedule["ops"])] == [(op["f"], op["value"]) for op in schedule["ops"]]
    summary = json.loads((found.run_dir / "explore.json").read_text())
    assert summary["confirmation"] == confirmation.to_json()
    assert confirmation.describe(found.reason) in found.describe()
