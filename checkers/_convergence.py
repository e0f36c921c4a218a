"""The convergence checker: how long each replicated update (dot) took to reach every DC.

Per dot `(origin, seq)`: time from its `originate` event to the last DC's first `apply` (the origin
counts as holding it from the originate). A dot held by every DC of `dc_names` is converged; others
are `unconverged` (ids `"origin:seq"`). Quantiles in ms and in gossip rounds (ms / gossip
interval), the theory `log2(N) + ln(N)` and DESIGN's exact figures for N=5 beside them; the time to
converge after each heal (a `stop-*`, `start`, `resume` or `reset-clock` completion -> the moment
every dot originated before it is held everywhere); WAN frames per update from `final.json`.
valid: no unconverged dot; `"unknown"` without events.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any

from ._index import HistoryIndex, Op, index_history
from ._nemesis import heal_times
from ._util import NS_PER_MS, mean, ns_to_ms, quantiles, unknown

DESIGN_FIGURES_N5 = {
    "push_mean_rounds": 3.93,
    "push_p99_rounds": 7,
    "push_pull_mean_rounds": 2.37,
    "push_pull_p99_rounds": 4,
    "article_estimate_rounds": 4,
    "article_estimate_ms": 1200,
    "physical_floor_ms": 200,
}


def theory_rounds(dc_count: int) -> float | None:
    """The article's push-gossip estimate `log2(N) + ln(N)` (without the O(1) term)."""
    if dc_count < 1:
        return None
    return round(math.log2(dc_count) + math.log(dc_count), 3)


def _dot_id(origin: Any, seq: Any) -> str:
    return f"{origin}:{seq}"


def _dot_order(dot: tuple[Any, Any]) -> tuple[str, int, str]:
    origin, seq = dot
    return (str(origin), seq if isinstance(seq, int) else 0, str(seq))


def _wan_frames(final: dict[str, Any] | None) -> int | None:
    if not final or not isinstance(final.get("hubs"), dict):
        return None
    total = 0
    found = False
    for hub in final["hubs"].values():
        counters = hub.get("counters") if isinstance(hub, dict) else None
        if isinstance(counters, dict) and isinstance(counters.get("wan_frames_sent"), (int, float)):
            total += counters["wan_frames_sent"]
            found = True
    return int(total) if found else None


def check_convergence(
    history: list[Op] | HistoryIndex | None,
    events: list[Op] | None = None,
    options: dict[str, Any] | None = None,
    final: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Judge convergence of the hubs' replicated state from the merged event log."""
    if events is None:
        return unknown("no events.jsonl")
    options = options or {}
    originated: dict[tuple[Any, Any], int] = {}
    held_since: dict[tuple[Any, Any], dict[Any, int]] = {}
    seen_dcs: set[Any] = set()
    for event in events:
        dot = (event.get("origin"), event.get("seq"))
        dc = event.get("dc")
        time = event.get("time", 0)
        kind = event.get("event")
        holders = held_since.get(dot)
        if holders is None:
            holders = held_since[dot] = {}
        if dc not in holders or time < holders[dc]:
            holders[dc] = time
        if kind == "originate" and (dot not in originated or time < originated[dot]):
            originated[dot] = time
        seen_dcs.add(dc)

    dc_names = list(options.get("dc_names") or sorted(seen_dcs, key=str))
    dc_count = len(dc_names)
    gossip_interval_ms = float(options.get("gossip_interval") or 100)

    unconverged: list[tuple[Any, Any]] = []
    durations: list[int] = []
    # (originate time, converged time or inf) for the heal analysis
    timeline: list[tuple[int, float]] = []
    for dot, holders in held_since.items():
        start = originated.get(dot, min(holders.values()))
        if all(dc in holders for dc in dc_names):
            done = max(holders[dc] for dc in dc_names)
            if dot in originated:
                durations.append(max(0, done - start))
            timeline.append((start, done))
        else:
            unconverged.append(dot)
            timeline.append((start, math.inf))

    heals = _after_heals(history, timeline)
    ms = quantiles(durations, NS_PER_MS)
    rounds = quantiles(durations, NS_PER_MS * gossip_interval_ms)
    frames = _wan_frames(final)
    dots = len(held_since)
    unconverged.sort(key=_dot_order)
    return {
        "valid": not unconverged,
        "dcs": dc_names,
        "dots": dots,
        "converged": dots - len(unconverged),
        "without_originate": dots - len(originated),
        "unconverged": [_dot_id(*dot) for dot in unconverged],
        "unconverged_count": len(unconverged),
        "ms": ms,
        "mean_ms": mean(durations, NS_PER_MS),
        "gossip_interval_ms": gossip_interval_ms,
        "rounds": rounds,
        "mean_rounds": mean(durations, NS_PER_MS * gossip_interval_ms),
        "theory_rounds": theory_rounds(dc_count),
        "theory_ms": (round(theory_rounds(dc_count) * gossip_interval_ms, 3)  # type: ignore[operator]
                      if dc_count else None),
        "design_figures_n5": DESIGN_FIGURES_N5,
        "heals": heals,
        "wan_frames_sent": frames,
        "wan_messages_per_update": round(frames / dots, 3) if frames is not None and dots else None,
    }


def _after_heals(
    history: list[Op] | HistoryIndex | None, timeline: list[tuple[int, float]]
) -> list[dict[str, Any]]:
    """For each heal: how long until every dot originated before it was held everywhere."""
    if history is None:
        return []
    index = index_history(history)
    timeline.sort(key=lambda item: item[0])
    starts = [start for start, _ in timeline]
    running_max: list[float] = []
    latest = -math.inf
    for _, done in timeline:
        latest = max(latest, done)
        running_max.append(latest)
    results = []
    for f, heal_time in heal_times(index.nemesis_ops):
        before = bisect_left(starts, heal_time)
        if before == 0:
            results.append({"f": f, "time_ms": ns_to_ms(heal_time), "dots": 0,
                            "converged_after_ms": 0.0})
            continue
        done = running_max[before - 1]
        after = None if math.isinf(done) else ns_to_ms(max(0.0, done - heal_time))
        results.append({"f": f, "time_ms": ns_to_ms(heal_time), "dots": before,
                        "converged_after_ms": after})
    return results
