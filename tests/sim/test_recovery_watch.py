"""The recovery phase ends only when the hubs agree and have been still (no delivery, no change of
version vector or unacknowledged offers) for the quiet period: `imfault explore` found a run
ended 0.3 ms after a hub applied a message it had yet to hand to its online recipient."""

from __future__ import annotations

import json
from pathlib import Path

from harness._cli_run import options_from_args
from harness.cli import build_parser
from harness.runner import RecoveryWatch, run_test
from harness.systems import FinalState
from harness.systems.imcluster import final_state_of

SCHEDULE = Path(__file__).parent / "data" / "recovery_race_schedule.json"


def _hubs(vv: int, offers: int = 0) -> FinalState:
    return final_state_of({"dc1": {"vv": {"dc1": vv}, "offers": offers},
                           "dc2": {"vv": {"dc1": vv}, "offers": 0}})


def test_a_change_of_version_vector_restarts_the_quiet_period() -> None:
    watch = RecoveryWatch(quiet=2.0)
    assert watch.done(_hubs(1), now=10.0, last_delivery=0.0)  # still since before the first poll
    watch = RecoveryWatch(quiet=2.0)
    assert not watch.done(_hubs(1), now=10.0, last_delivery=9.0)
    assert not watch.done(_hubs(2), now=11.0, last_delivery=9.0)  # applied just before this poll
    assert not watch.done(_hubs(2), now=12.9, last_delivery=9.0)
    assert watch.done(_hubs(2), now=13.0, last_delivery=9.0)


def test_offers_held_at_the_first_poll_count_as_a_change() -> None:
    watch = RecoveryWatch(quiet=2.0)
    assert not watch.done(_hubs(1, offers=1), now=10.0, last_delivery=0.0)
    assert not watch.done(_hubs(1, offers=0), now=11.0, last_delivery=0.0)  # acked: a change
    assert watch.done(_hubs(1, offers=0), now=13.0, last_delivery=0.0)


def test_disagreeing_hubs_never_end_recovery() -> None:
    watch = RecoveryWatch(quiet=2.0)
    hubs = final_state_of({"dc1": {"vv": {"dc1": 1}, "offers": 0}, "dc2": None})
    assert not watch.done(hubs, now=100.0, last_delivery=0.0)


def test_the_explored_schedule_delivers_the_message_applied_just_before_the_poll(
        tmp_path: Path) -> None:
    argv = ["run", "--store", str(tmp_path), "--backend", "sim", "--dcs", "4", "--nemesis",
            "partition-oneway", "--recovery-timeout", "30", "--schedule", str(SCHEDULE)]
    outcome = run_test(options_from_args(build_parser().parse_args(argv)))
    results = json.loads((outcome.run_dir / "results.json").read_text())
    delivery = results["delivery"]
    assert delivery["valid"] is True, delivery  # was: m27763-5 lost, dc1's hub pending 1
    assert delivery["acknowledged"] == delivery["delivered"] == 6
