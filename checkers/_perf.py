"""The perf checker: latency and rate over time (1 s buckets), nemesis periods as intervals.

For the report's charts. Per bucket (by invocation time for sends, by receipt time for receipts):
sends invoked and their outcomes, receipts, send latency (invoke -> completion) and delivery
latency (invoke -> first receipt by the recipient) quantiles in ms. Nemesis periods are
`{f, start_s, end_s}`. Always valid.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ._index import S_COMPLETE_TIME, S_INVOKE_TIME, S_OUTCOME, HistoryIndex, Op, index_history
from ._nemesis import fault_ops_of, nemesis_intervals
from ._util import NS_PER_MS, quantiles, unknown

NS_PER_S = 1_000_000_000
_OUTCOMES = frozenset({"ok", "fail", "info", "pending"})


def check_perf(
    history: list[Op] | HistoryIndex | None,
    events: list[Op] | None = None,
    options: dict[str, Any] | None = None,
    final: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Per-second rates and latency quantiles plus nemesis intervals, for charts."""
    if history is None:
        return unknown("no history")
    options = options or {}
    bucket_ns = int(float(options.get("perf_bucket_s", 1)) * NS_PER_S) or NS_PER_S
    index = index_history(history)
    buckets: dict[int, dict[str, Any]] = {}

    def new_bucket() -> dict[str, Any]:
        return {"ok": 0, "fail": 0, "info": 0, "pending": 0, "recvs": 0,
                "send_latencies": [], "delivery_latencies": []}

    slot: dict[str, Any] = {}
    current = None
    for send in index.sends.values():  # invocation order: the bucket changes rarely
        invoked = send[S_INVOKE_TIME]
        key = invoked // bucket_ns
        if key != current:
            current = key
            slot = buckets[key] if key in buckets else buckets.setdefault(key, new_bucket())
        outcome = send[S_OUTCOME]
        slot[outcome if outcome in _OUTCOMES else "info"] += 1
        completed = send[S_COMPLETE_TIME]
        if completed is not None:
            slot["send_latencies"].append(completed - invoked)
    for key, count in Counter(time // bucket_ns for time in index.receipt_times).items():
        slot = buckets[key] if key in buckets else buckets.setdefault(key, new_bucket())
        slot["recvs"] += count
    current = None
    latencies: list[int] = []
    for send, received, _ in index.deliveries:  # receipt order: the bucket changes rarely
        key = received // bucket_ns
        if key != current:
            current = key
            latencies = buckets[key]["delivery_latencies"]
        latencies.append(received - send[S_INVOKE_TIME])

    series = []
    for key in sorted(buckets):
        slot = buckets[key]
        sends_in = slot["ok"] + slot["fail"] + slot["info"] + slot["pending"]
        series.append({
            "t_s": round(key * bucket_ns / NS_PER_S, 3),
            "sends": sends_in,
            "ok": slot["ok"], "fail": slot["fail"], "info": slot["info"],
            "pending": slot["pending"],
            "recvs": slot["recvs"],
            "send_latency_ms": quantiles(slot["send_latencies"], NS_PER_MS),
            "delivery_latency_ms": quantiles(slot["delivery_latencies"], NS_PER_MS),
        })
    intervals = [{"f": item["f"], "start_s": round(item["start"] / NS_PER_S, 6),
                  "end_s": round(item["end"] / NS_PER_S, 6)}
                 for item in nemesis_intervals(index.nemesis_ops, index.last_time,
                                               fault_ops_of(options))]
    return {
        "valid": True,
        "bucket_s": bucket_ns / NS_PER_S,
        "duration_s": round(index.last_time / NS_PER_S, 6),
        "buckets": series,
        "nemesis": intervals,
    }
