"""The convergence checker: how long each replicated update (dot) took to reach every DC.

Per dot `(origin, seq)`: time from its `originate` event to the last DC's first `apply` (the origin
counts as holding it from the originate). A dot held by every DC of `dc_names` is converged; others
are `unconverged` (ids `"origin:seq"`). Quantiles in ms and in gossip rounds (ms / gossip
interval), in ms per entry kind (`by_kind_ms`: coord, msg, tomb), the theory `log2(N) + ln(N)`
and DESIGN's exact figures for N=5 beside them; the time to converge after each heal (the
completion of an op that closes a fault, as test.json's `fault_ops` names them -> the moment
every dot originated before it is held everywhere); WAN frames per update from `final.json`.

The final state decides too (DESIGN §3), whatever the event logs say: the hubs' version vectors in
`final.json` must be equal (`final_vv_differ: {origin: {dc: seq}}` names the origins where they
are not, `final_dcs_behind` the DCs below the highest seq of such an origin), no hub may report
`converged: false` (`final_not_converged`), nor may `final.json` as a whole unless a hub was
unreachable.
valid: no unconverged dot and the final state agrees; false if either says otherwise;
`"unknown"` otherwise when `events.jsonl` or `final.json` is missing or a hub was unreachable at
the end (`final_unreachable`).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any

from ._index import HistoryIndex, Op, index_history
from ._nemesis import FaultOps, fault_ops_of, heal_times
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


def _wan_by_kind(final: dict[str, Any] | None, dots: int) -> dict[str, dict[str, float]]:
    """Per update, the WAN frames (and bytes, where the hubs count them) of each frame type, from
    the hubs' `wan_frames_<type>` / `wan_bytes_<type>` counters (empty without them)."""
    if not final or not isinstance(final.get("hubs"), dict) or not dots:
        return {}
    totals: dict[str, dict[str, float]] = {}
    for hub in final["hubs"].values():
        counters = hub.get("counters") if isinstance(hub, dict) else None
        for name, value in (counters.items() if isinstance(counters, dict) else ()):
            for prefix, field in (("wan_frames_", "frames"), ("wan_bytes_", "bytes")):
                kind = name[len(prefix):]
                if (name.startswith(prefix) and kind not in ("sent", "dropped")
                        and isinstance(value, (int, float)) and not isinstance(value, bool)):
                    per_kind = totals.setdefault(kind, {})
                    per_kind[field] = per_kind.get(field, 0) + value
    return {kind: {field: round(value / dots, 3) for field, value in sorted(fields.items())}
            for kind, fields in sorted(totals.items())}


def check_convergence(
    history: list[Op] | HistoryIndex | None,
    events: list[Op] | None = None,
    options: dict[str, Any] | None = None,
    final: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Judge convergence of the hubs' replicated state from the merged event log."""
    options = options or {}
    final_verdict, final_fields = final_state(final, options.get("dc_names"))
    if events is None:
        if final_verdict is False:
            return {"valid": False, "reason": "no events.jsonl", **final_fields}
        return unknown("no events.jsonl", **final_fields)
    try:
        by_origin, originated, kinds = _gather(events)
    except (KeyError, TypeError, AttributeError):
        by_origin, originated, kinds = _gather([_sanitised(event) for event in events])

    dc_names = list(options.get("dc_names") or sorted(
        {dc for per_seq in by_origin.values() for holders in per_seq.values() for dc in holders},
        key=str))
    dc_set = set(dc_names)
    dc_count = len(dc_set)
    gossip_interval_ms = float(options.get("gossip_interval") or 100)

    unconverged: list[tuple[Any, Any]] = []
    durations: list[int] = []
    # (originate time, converged time or inf) for the heal analysis
    timeline: list[tuple[int, float]] = []
    durations_by_kind: dict[Any, list[int]] = {}
    dots = 0
    for origin, per_seq in by_origin.items():
        origin_times = originated.get(origin, {})
        origin_kinds = kinds.get(origin, {})
        for seq, holders in per_seq.items():
            dots += 1
            start = origin_times.get(seq)
            if len(holders) == dc_count and holders.keys() == dc_set:
                done = max(holders.values())
            elif holders.keys() >= dc_set:
                done = max(holders[dc] for dc in dc_set)
            else:
                unconverged.append((origin, seq))
                timeline.append((min(holders.values()) if start is None else start, math.inf))
                continue
            if start is None:
                timeline.append((min(holders.values()), done))
            else:
                duration = done - start if done > start else 0
                durations.append(duration)
                kind = origin_kinds.get(seq)
                per_kind = durations_by_kind.get(kind)
                if per_kind is None:
                    per_kind = durations_by_kind[str(kind)] = []
                per_kind.append(duration)
                timeline.append((start, done))
    originated_count = sum(len(per_seq) for per_seq in originated.values())

    heals = _after_heals(history, timeline, fault_ops_of(options))
    ms = quantiles(durations, NS_PER_MS)
    rounds = quantiles(durations, NS_PER_MS * gossip_interval_ms)
    frames = _wan_frames(final)
    unconverged.sort(key=_dot_order)
    valid: bool | str = False if unconverged or final_verdict is False else final_verdict
    return {
        "valid": valid,
        **({"reason": final_fields["final_reason"]} if valid == "unknown" else {}),
        "dcs": dc_names,
        "dots": dots,
        "converged": dots - len(unconverged),
        "without_originate": dots - originated_count,
        "unconverged": [_dot_id(*dot) for dot in unconverged],
        "unconverged_count": len(unconverged),
        "ms": ms,
        "mean_ms": mean(durations, NS_PER_MS),
        "by_kind_ms": {str(kind): quantiles(values, NS_PER_MS)
                       for kind, values in sorted(durations_by_kind.items(), key=str)},
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
        "wan_per_update_by_kind": _wan_by_kind(final, dots),
        **final_fields,
    }


def final_state(final: dict[str, Any] | None, dc_names: Any) -> tuple[bool | str, dict[str, Any]]:
    """The verdict of `final.json` alone (True, False or "unknown") and the fields naming why."""
    if not isinstance(final, dict) or not isinstance(final.get("hubs"), dict):
        return "unknown", {"final_reason": "no final.json"}
    hubs = final["hubs"]
    names = [str(dc) for dc in dc_names] if isinstance(dc_names, list) and dc_names else \
        sorted(map(str, hubs))
    vvs: dict[str, dict[Any, Any]] = {}
    unreachable: list[str] = []
    not_converged: list[str] = []
    for dc in names:
        hub = hubs.get(dc)
        hub = hub if isinstance(hub, dict) else {}
        if not isinstance(hub.get("vv"), dict) or hub.get("error"):
            unreachable.append(dc)
            continue
        vvs[dc] = hub["vv"]
        if hub.get("converged") is False:
            not_converged.append(dc)
    differ: dict[str, dict[str, Any]] = {}
    behind: set[str] = set()
    for origin in sorted({origin for vv in vvs.values() for origin in vv}, key=str):
        seqs = {dc: vv.get(origin, 0) for dc, vv in vvs.items()}
        if len({repr(seq) for seq in seqs.values()}) > 1:
            differ[str(origin)] = seqs
            numbers = [seq for seq in seqs.values() if isinstance(seq, (int, float))]
            top = max(numbers, default=0)
            behind.update(dc for dc, seq in seqs.items()
                          if not isinstance(seq, (int, float)) or seq < top)
    # the runner's own flag is false when a hub was unreachable: then it says nothing more
    flagged_false = final.get("converged") is False and not unreachable
    fields: dict[str, Any] = {
        "final_converged": final.get("converged"),
        "final_vv_differ": differ,
        "final_dcs_behind": sorted(behind),
        "final_not_converged": not_converged,
        "final_unreachable": unreachable,
    }
    if differ or not_converged or flagged_false:
        fields["final_reason"] = "final state disagrees"
        return False, fields
    if unreachable:
        fields["final_reason"] = f"hubs unreachable at the end: {', '.join(unreachable)}"
        return "unknown", fields
    return True, fields


Nested = dict[Any, dict[Any, Any]]


def _gather(events: list[Op]) -> tuple[Nested, Nested, Nested]:
    """origin -> seq -> {dc: first time held}; origin -> seq -> originate time; -> kind."""
    by_origin: Nested = {}
    originated: Nested = {}
    kinds: Nested = {}
    for event in events:
        origin = event["origin"]
        seq = event["seq"]
        time = event["time"]
        per_seq = by_origin.get(origin)
        if per_seq is None:
            per_seq = by_origin[origin] = {}
        holders = per_seq.get(seq)
        if holders is None:
            holders = per_seq[seq] = {}
        if holders.setdefault(event["dc"], time) > time:
            holders[event["dc"]] = time
        if event["event"] == "originate":
            times = originated.get(origin)
            if times is None:
                times = originated[origin] = {}
                kinds[origin] = {}
            if times.setdefault(seq, time) > time:
                times[seq] = time
            kinds[origin][seq] = event.get("kind")
    return by_origin, originated, kinds


def _sanitised(event: Any) -> Op:
    """An event with every field `_gather` reads present and hashable."""
    event = event if isinstance(event, dict) else {}
    time = event.get("time")

    def hashable(value: Any) -> Any:
        return value if isinstance(value, (str, int, float, type(None))) else str(value)

    return {"origin": hashable(event.get("origin")), "seq": hashable(event.get("seq")),
            "kind": hashable(event.get("kind")),
            "dc": hashable(event.get("dc")), "event": event.get("event"),
            "time": time if isinstance(time, (int, float)) else 0}


def _after_heals(
    history: list[Op] | HistoryIndex | None, timeline: list[tuple[int, float]],
    fault_ops: FaultOps | None = None,
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
    for f, heal_time in heal_times(index.nemesis_ops, fault_ops):
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
