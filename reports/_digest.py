"""One streaming pass over a run's history and events, keeping only what the report draws.

The report must stay fast for histories of a million ops, so this module reads `history.jsonl`
once and keeps compact per-message facts (send time, sender DC, first receipt), nemesis ops and
intervals, login/logout ops (to explain a trail), and the full ops of the few messages whose trails
the report shows. `events.jsonl` is read once for per-dot convergence times.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._runfiles import JsonlStats, iter_jsonl

NS_PER_MS = 1_000_000
MAX_OPS_PER_TRAIL = 60  # ops kept per message id (its send and receipts); the rest are counted
MAX_EVENTS_PER_TRAIL = 30

# nemesis op f -> (interval kind, opens?)
_OPENERS = {
    "start-partition": "partition",
    "start-wan": "wan",
    "kill": "kill",
    "pause": "pause",
    "bump-clock": "clock",
}
_CLOSERS = {
    "stop-partition": "partition",
    "stop-wan": "wan",
    "start": "kill",
    "resume": "pause",
    "reset-clock": "clock",
}


@dataclass(slots=True)
class SendFacts:
    """What the history says about one send."""

    invoke_time: int
    sender: str
    recipient: str
    dc: str
    outcome: str = "pending"  # ok | fail | info | pending (no completion recorded)
    first_receipt_time: int | None = None
    first_receipt_via: str | None = None


@dataclass
class NemesisInterval:
    """A fault that was active from `start` to `end` (ns since test start)."""

    kind: str
    start: int
    end: int
    label: str
    closed: bool


@dataclass
class HistoryDigest:
    """The report's view of a history."""

    op_count: int = 0
    end_time: int = 0
    sends: dict[str, SendFacts] = field(default_factory=dict)
    nemesis_ops: list[dict[str, Any]] = field(default_factory=list)
    intervals: list[NemesisInterval] = field(default_factory=list)
    session_ops: list[dict[str, Any]] = field(default_factory=list)  # login/logout, all of them
    trail_ops: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    trail_overflow: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    receipts_by_dc: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    skipped_lines: int = 0


def _target_label(value: Any) -> str:
    """A short description of what a nemesis op acted on."""
    if not isinstance(value, dict):
        return "" if value is None else str(value)
    for key in ("node", "nodes", "dc", "dcs", "shape", "style", "toxic"):
        if key in value:
            return f"{key}={json.dumps(value[key], sort_keys=True, default=str)}"
    if "grudge" in value:
        return "grudge=" + json.dumps(value["grudge"], sort_keys=True, default=str)
    return ""


def _interval_key(value: Any) -> str:
    if isinstance(value, dict):
        for key in ("node", "nodes", "dc"):
            if key in value:
                return json.dumps(value[key], sort_keys=True, default=str)
    return ""


def _keep(digest: HistoryDigest, msg_id: str, op: dict[str, Any]) -> None:
    if len(digest.trail_ops[msg_id]) < MAX_OPS_PER_TRAIL:
        digest.trail_ops[msg_id].append(op)
    else:
        digest.trail_overflow[msg_id] += 1


def digest_history(path: Path, trail_ids: set[str]) -> HistoryDigest:
    """Read `history.jsonl` once; keep every op of a message id in `trail_ids`."""
    digest = HistoryDigest()
    stats = JsonlStats()
    sends = digest.sends
    open_intervals: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
    end_time = 0
    for op in iter_jsonl(path, stats):
        time = op.get("time")
        if time.__class__ is not int:
            time = int(time) if isinstance(time, float) else 0
            op["time"] = time
        end_time = max(end_time, time)
        f = op.get("f")
        value = op.get("value")
        kind = op.get("type")
        if op.get("process") == "nemesis":
            digest.nemesis_ops.append(op)
            label = _target_label(value)
            if f in _OPENERS and kind == "invoke":
                open_intervals[_OPENERS[f]].append((time, _interval_key(value), label))
            elif f in _CLOSERS and kind != "invoke":
                stack = open_intervals[_CLOSERS[f]]
                if stack:
                    key = _interval_key(value)
                    pos = next((i for i, item in enumerate(stack) if item[1] == key), 0)
                    start, _key, open_label = stack.pop(pos)
                    digest.intervals.append(
                        NemesisInterval(_CLOSERS[f], start, time, open_label or label, True)
                    )
            continue
        if not isinstance(value, dict):
            continue
        if f == "send":
            msg_id = str(value.get("id"))
            if kind == "invoke":
                sends[msg_id] = SendFacts(
                    time,
                    str(value.get("from")),
                    str(value.get("to")),
                    str(value.get("dc")),
                )
            elif msg_id in sends:
                sends[msg_id].outcome = str(kind)
            if msg_id in trail_ids:
                _keep(digest, msg_id, op)
        elif f == "recv":
            msg_id = str(value.get("id"))
            facts = sends.get(msg_id)
            if (
                facts is not None
                and value.get("user") == facts.recipient
                and facts.first_receipt_time is None
            ):
                facts.first_receipt_time = time
                facts.first_receipt_via = str(value.get("via"))
                digest.receipts_by_dc[str(value.get("dc"))] += 1
            if msg_id in trail_ids:
                _keep(digest, msg_id, op)
        elif f in ("login", "logout"):
            digest.session_ops.append(op)
    digest.op_count = stats.parsed
    digest.end_time = end_time
    for kind_name, stack in open_intervals.items():
        for start, _key, label in stack:
            digest.intervals.append(
                NemesisInterval(kind_name, start, digest.end_time, label, False)
            )
    digest.intervals.sort(key=lambda item: (item.start, item.kind))
    digest.skipped_lines = stats.skipped
    return digest


@dataclass
class EventsDigest:
    """Per-dot convergence as read from `events.jsonl`."""

    dots: int = 0
    converged_ms: list[float] = field(default_factory=list)
    unconverged: int = 0
    msg_events: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))


def digest_events(path: Path, dc_names: list[str], trail_ids: set[str]) -> EventsDigest:
    """Per dot: time from `originate` to the last DC's `apply`; keep msg events of `trail_ids`."""
    result = EventsDigest()
    first: dict[tuple[str, int], int] = {}
    last: dict[tuple[str, int], int] = {}
    seen_dcs: dict[tuple[str, int], set[str]] = defaultdict(set)
    for event in iter_jsonl(path):
        dot = (str(event.get("origin")), int(event.get("seq") or 0))
        time = event.get("time")
        if not isinstance(time, (int, float)):
            continue
        time = int(time)
        if event.get("event") == "originate":
            first[dot] = time
        if dot not in last or time > last[dot]:
            last[dot] = time
        seen_dcs[dot].add(str(event.get("dc")))
        key = event.get("key")
        if key is not None and str(key) in trail_ids:
            kept = result.msg_events[str(key)]
            if len(kept) < MAX_EVENTS_PER_TRAIL:
                kept.append(event)
    wanted = set(dc_names)
    result.dots = len(seen_dcs)
    for dot, dcs in seen_dcs.items():
        if dot in first and (not wanted or wanted <= dcs):
            result.converged_ms.append(max(0, last[dot] - first[dot]) / NS_PER_MS)
        else:
            result.unconverged += 1
    return result
