"""Nemesis periods from the history: when each fault was active, and when each heal completed.

Which ops open and close a fault is the run's own record: `test.json`'s `fault_ops`, written by
the runner from what each nemesis declares (`{kind: {"open": f, "close": f}}`, kind being the
fault's name in the report and the live progress). `fault_ops_of(options)` reads it; for a run
directory written before that field existed it falls back to `BUILTIN_FAULT_OPS` (the one copy
of that table). A fault opens with the invocation of its open op and closes with the completion
of its close op. A fault still open at the end of the history lasts to its end.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping
from typing import Any

Op = dict[str, Any]

BUILTIN_FAULT_OPS: dict[str, tuple[str, str]] = {
    "partition": ("start-partition", "stop-partition"),
    "wan": ("start-wan", "stop-wan"),
    "kill": ("kill", "start"),
    "pause": ("pause", "resume"),
    "clock": ("bump-clock", "reset-clock"),
    "partition-node": ("start-partition-node", "stop-partition-node"),
}
"""The built-in nemeses' fault ops, for run directories whose test.json has no `fault_ops`."""


class FaultOps:
    """The fault kinds of a run: kind -> (open f, close f), and the lookups by f."""

    def __init__(self, kinds: Mapping[str, tuple[str, str]]) -> None:
        self.kinds = dict(kinds)
        self.opens: dict[str, str] = {}   # f -> kind
        self.closes: dict[str, str] = {}  # f -> kind
        for kind, (opener, closer) in self.kinds.items():
            for f, table in ((opener, self.opens), (closer, self.closes)):
                if f in self.opens or f in self.closes:
                    raise ValueError(f"fault_ops: op {f!r} belongs to two faults ({kind!r} and "
                                     f"{(self.opens | self.closes)[f]!r})")
                table[f] = kind

    def closer_of(self, f: str) -> str | None:
        """The `f` that ends a fault opened by `f`, or None if `f` opens none."""
        kind = self.opens.get(f)
        return self.kinds[kind][1] if kind is not None else None

    def is_heal(self, f: str) -> bool:
        """Whether an op `f` ends a fault."""
        return f in self.closes

    def to_json(self) -> dict[str, dict[str, str]]:
        """The `test.json` form: `{kind: {"open": f, "close": f}}`."""
        return {kind: {"open": o, "close": c} for kind, (o, c) in self.kinds.items()}


def fault_ops_of(options: Mapping[str, Any] | None) -> FaultOps:
    """The fault ops recorded in a run's options (`test.json`), or the built-in table when the
    run predates the record. A malformed record is a `ValueError` saying what is wrong."""
    recorded = (options or {}).get("fault_ops")
    if recorded is None:
        return FaultOps(BUILTIN_FAULT_OPS)
    if not isinstance(recorded, Mapping):
        raise ValueError(  # noqa: TRY004 - bad file content, not a caller's type error
            f"test.json fault_ops must be an object, not {type(recorded).__name__}")
    kinds: dict[str, tuple[str, str]] = {}
    for kind, ops in recorded.items():
        if not (isinstance(ops, Mapping) and isinstance(ops.get("open"), str)
                and isinstance(ops.get("close"), str)):
            raise ValueError(f"test.json fault_ops[{kind!r}] must be "  # noqa: TRY004
                             f'{{"open": f, "close": f}} with string ops, not {ops!r}')
        kinds[str(kind)] = (ops["open"], ops["close"])
    return FaultOps(kinds)


def _time_of(op: Op) -> int:
    time = op.get("time")
    return int(time) if isinstance(time, (int, float)) else 0


def nemesis_intervals(nemesis_ops: list[Op], end_time: int,
                      fault_ops: FaultOps | None = None) -> list[dict[str, Any]]:
    """Fault periods `{f, start, end, value}` (ns), sorted by start; `fault_ops` from
    `fault_ops_of(options)` (None: the built-in table)."""
    faults = fault_ops if fault_ops is not None else fault_ops_of(None)
    open_by_closer: dict[str, list[dict[str, Any]]] = {}
    intervals: list[dict[str, Any]] = []
    for op in nemesis_ops:
        f = str(op.get("f"))
        kind = op.get("type")
        time = _time_of(op)
        opened_closer = faults.closer_of(f)
        if opened_closer is not None and kind == "invoke":
            interval = {"f": f, "start": time, "end": None, "value": op.get("value")}
            intervals.append(interval)
            open_by_closer.setdefault(opened_closer, []).append(interval)
        elif faults.is_heal(f) and kind != "invoke":
            for interval in open_by_closer.pop(f, []):
                interval["end"] = time
    for interval in intervals:
        if interval["end"] is None:
            interval["end"] = max(end_time, interval["start"])
    intervals.sort(key=lambda item: item["start"])
    return intervals


def heal_times(nemesis_ops: list[Op], fault_ops: FaultOps | None = None
               ) -> list[tuple[str, int]]:
    """`(f, time)` of every completed heal op, in history order (`fault_ops` as above)."""
    faults = fault_ops if fault_ops is not None else fault_ops_of(None)
    return [(str(op.get("f")), _time_of(op)) for op in nemesis_ops
            if op.get("type") != "invoke" and faults.is_heal(str(op.get("f")))]


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


def check_nemesis_protocol(options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`results.json`'s `nemesis_protocol`: the nemesis protocol breaches the runner's validating
    wrapper recorded (`test.json`'s `nemesis_problems`), or None for a run without that record
    (older runs, hand-made histories: the entry is then left out).

    `unknown` when there is any: the history's record of when each fault opened and closed may
    be wrong, so a pass could rest on faults that did not happen; true when the list is empty.
    """
    problems = (options or {}).get("nemesis_problems")
    if problems is None:
        return None
    if not isinstance(problems, list) or not all(isinstance(p, str) for p in problems):
        return {"valid": "unknown", "reason": "test.json nemesis_problems must be a list of "
                f"strings, not {problems!r:.80}", "problems": [], "problem_count": 0}
    result: dict[str, Any] = {"valid": True, "problems": list(problems),
                              "problem_count": len(problems)}
    if problems:
        result["valid"] = "unknown"
        result["reason"] = (f"the nemesis breached its protocol {len(problems)} time(s): the "
                            "fault record in the history cannot be trusted")
    return result
