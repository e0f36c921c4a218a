"""Nemesis periods from the history: when each fault was active, and when each heal completed.

A fault opens with the invocation of `start-X` (or `kill`, `pause`, `bump-clock`) and closes with
the completion of the matching `stop-X` (or `start`, `resume`, `reset-clock`). A fault still open
at the end of the history lasts to its end.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable
from typing import Any

Op = dict[str, Any]

_CLOSER_OF = {"kill": "start", "pause": "resume", "bump-clock": "reset-clock"}
_HEALS = frozenset(_CLOSER_OF.values())


def _time_of(op: Op) -> int:
    time = op.get("time")
    return int(time) if isinstance(time, (int, float)) else 0


def closer_of(f: str) -> str | None:
    """The `f` that ends a fault opened by `f`, or None if `f` opens none."""
    if f.startswith("start-"):
        return "stop-" + f[len("start-"):]
    return _CLOSER_OF.get(f)


def is_heal(f: str) -> bool:
    """Whether an op `f` ends a fault (`stop-*`, `start`, `resume`, `reset-clock`)."""
    return f.startswith("stop-") or f in _HEALS


def nemesis_intervals(nemesis_ops: list[Op], end_time: int) -> list[dict[str, Any]]:
    """Fault periods `{f, start, end, value}` (ns), sorted by start."""
    open_by_closer: dict[str, list[dict[str, Any]]] = {}
    intervals: list[dict[str, Any]] = []
    for op in nemesis_ops:
        f = str(op.get("f"))
        kind = op.get("type")
        time = _time_of(op)
        opened_closer = closer_of(f)
        if opened_closer is not None and kind == "invoke":
            interval = {"f": f, "start": time, "end": None, "value": op.get("value")}
            intervals.append(interval)
            open_by_closer.setdefault(opened_closer, []).append(interval)
        elif is_heal(f) and kind != "invoke":
            for interval in open_by_closer.pop(f, []):
                interval["end"] = time
    for interval in intervals:
        if interval["end"] is None:
            interval["end"] = max(end_time, interval["start"])
    intervals.sort(key=lambda item: item["start"])
    return intervals


def heal_times(nemesis_ops: list[Op]) -> list[tuple[str, int]]:
    """`(f, time)` of every completed heal op, in history order."""
    return [(str(op.get("f")), _time_of(op)) for op in nemesis_ops
            if op.get("type") != "invoke" and is_heal(str(op.get("f")))]


class ActivePeriods:
    """Answers 'was some fault active at time t?' in O(log n) over merged intervals."""

    def __init__(self, intervals: list[dict[str, Any]]) -> None:
        merged: list[list[int]] = []
        for interval in sorted(intervals, key=lambda item: item["start"]):
            if merged and interval["start"] <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], interval["end"])
            else:
                merged.append([interval["start"], interval["end"]])
        self._starts = [start for start, _ in merged]
        self._ends = [end for _, end in merged]

    def active(self, time: int) -> bool:
        """True if `time` lies within a fault period (ends inclusive)."""
        position = bisect_right(self._starts, time) - 1
        return position >= 0 and time <= self._ends[position]

    def flags(self, times: Iterable[int]) -> list[bool]:
        """`active(t)` for each time, by a sweep (fast when times mostly ascend, as sends do)."""
        starts, ends = self._starts, self._ends
        count = len(starts)
        if count == 0:
            return [False for _ in times]
        flags: list[bool] = []
        position = 0
        previous = None
        for time in times:
            if previous is not None and time < previous:
                position = bisect_right(starts, time) - 1 if time >= starts[0] else 0
                position = max(position, 0)
            previous = time
            while position < count and ends[position] < time:
                position += 1
            flags.append(position < count and starts[position] <= time)
        return flags

    def any_between(self, start: int, end: int) -> bool:
        """True if some fault period overlaps `[start, end]` (ends inclusive)."""
        position = bisect_right(self._ends, start - 1)  # the first period ending at/after start
        return position < len(self._starts) and self._starts[position] <= end
