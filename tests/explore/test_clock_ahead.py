"""The `clock-ahead` nemesis (issue 12's `wallclock-lww` cell): it skews hub clocks ahead only,
within `clock-skew`'s magnitudes, and leaves the correct cluster valid on sim (a second of CPU)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from harness._options import RunOptions
from harness.explore import BUG_FAULTS
from harness.nemesis import get_nemesis
from harness.nemesis._clock import MAX_SKEW_MS, MIN_SKEW_MS
from harness.runner import run_test


class _Hubs:
    """Just what `start_value` asks of a backend: a hub's name."""

    class _Ref:
        def __init__(self, name: str) -> None:
            self.name = name

    def hub(self, dc: str) -> _Ref:
        return self._Ref(f"{dc}-hub")


def _offsets(name: str) -> list[int]:
    from harness.nemesis import NemesisContext

    ctx = NemesisContext(backend=_Hubs(), dc_names=["dc1", "dc2", "dc3"], rng=random.Random(0))
    nemesis, rng = get_nemesis(name), random.Random(7)
    return [int(nemesis.start_value(ctx, rng)["offset_ms"]) for _ in range(200)]


def test_clock_ahead_skews_ahead_only_and_clock_skew_both_ways() -> None:
    ahead = _offsets("clock-ahead")
    assert all(MIN_SKEW_MS <= o <= MAX_SKEW_MS for o in ahead)
    both = _offsets("clock-skew")
    assert min(both) <= -MIN_SKEW_MS and max(both) >= MIN_SKEW_MS
    assert BUG_FAULTS["wallclock-lww"].nemesis == ("clock-ahead",)


def test_the_correct_cluster_stays_valid_under_clock_ahead(tmp_path: Path) -> None:
    options = RunOptions(backend="sim", dcs=3, users=5, rate=20, time_limit=6,
                         nemesis=["clock-ahead"], nemesis_interval=1, roam=0.9, seed=5,
                         store=str(tmp_path))
    outcome = run_test(options)
    assert outcome.results["valid"] is True, outcome.run_dir
    history = [json.loads(line) for line in (outcome.run_dir / "history.jsonl").open()]
    bumps = [op["value"]["offset_ms"] for op in history
             if op["process"] == "nemesis" and op["type"] == "info" and op["f"] == "bump-clock"]
    assert bumps and all(offset > 0 for offset in bumps)
