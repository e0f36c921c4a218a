"""The runs behind the seeded-bug tests: one `imfault run` per (bug, scenario), cached per session.

A scenario is the nemesis and workload that exposes a bug (DESIGN §1 "Seeded bugs"); the same
scenario without the bug is its clean counterpart, and bugs that share a scenario share its clean
run. Runs go through `harness.runner.run_test` on the local backend (real node processes, real
toxiproxy-server), exactly what `command(...)` replays from a shell.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.runner import RunOptions, RunOutcome, run_test

__all__ = ["SCENARIOS", "Scenario", "acknowledged_sends", "history_ops", "run_scenario"]


@dataclass(frozen=True)
class Scenario:
    """Options of one test-sized run (3 DCs, short, fixed seed) minus the bug."""

    name: str
    nemesis: tuple[str, ...] = ()
    seed: int = 1
    dcs: int = 3
    users: int = 24
    rate: float = 40.0
    time_limit: float = 8.0
    nemesis_interval: float = 2.0
    roam: float = 0.1
    locality: float = 0.3
    wan_latency: float = 200.0
    exactly_once: bool = False
    recovery_timeout: float = 20.0

    def options(self, bug: str | None, store: Path) -> RunOptions:
        return RunOptions(backend="local", dcs=self.dcs, users=self.users, rate=self.rate,
                          time_limit=self.time_limit, nemesis=list(self.nemesis),
                          nemesis_interval=self.nemesis_interval, roam=self.roam,
                          locality=self.locality, wan_latency=self.wan_latency,
                          exactly_once=self.exactly_once, recovery_timeout=self.recovery_timeout,
                          seed=self.seed, bug=[bug] if bug else [], store=str(store),
                          name=f"{self.name}-{bug or 'clean'}")

    def with_(self, **changes: Any) -> Scenario:
        return replace(self, **changes)


SCENARIOS: dict[str, Scenario] = {
    # a partition isolates one DC; the kill (targeted) hits that DC's hub while it is cut off
    "crash-while-cut-off": Scenario("crash-while-cut-off", ("partition-one", "kill"), seed=11),
    # a partition alone: what the cut-off DCs miss must come back through anti-entropy / the pool
    "partition": Scenario("partition", ("partition-one",), seed=12),
    # users roam a lot, no faults: delivery marks must follow them (exactly-once check)
    "roaming": Scenario("roaming", (), seed=13, roam=0.6, exactly_once=True),
    # hub clocks skewed by +-5..60 s: coordinates must still name where users are
    "clock-skew": Scenario("clock-skew", ("clock-skew",), seed=14, roam=0.5),
}


_cache: dict[tuple[Scenario, str | None], RunOutcome] = {}


def run_scenario(scenario: Scenario, bug: str | None, store: Path) -> RunOutcome:
    """Run `scenario` with `bug` (None: the correct cluster) once per session; cached."""
    key = (scenario, bug)
    if key not in _cache:
        _cache[key] = run_test(scenario.options(bug, store))
    return _cache[key]


def history_ops(outcome: RunOutcome) -> list[dict[str, Any]]:
    """Every op of the run's `history.jsonl`."""
    text = (outcome.run_dir / "history.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def acknowledged_sends(outcome: RunOutcome) -> dict[str, dict[str, Any]]:
    """Message id -> value of every `send` that completed `ok`."""
    return {op["value"]["id"]: op["value"] for op in history_ops(outcome)
            if op["f"] == "send" and op["type"] == "ok"}
