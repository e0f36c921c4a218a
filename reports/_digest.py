"""One pass over a run's history and events, keeping only what the report draws.

The report must stay fast for histories of a million ops, so this module reads `history.jsonl`
once and keeps compact per-message facts (send time, sender DC, first receipt), nemesis ops and
intervals, login/logout ops (to explain a trail), and the full ops of the few messages whose trails
the report shows. `events.jsonl` is read once for per-dot convergence times.

When the caller already parsed the run (`imfault check` parses it for the checkers), it hands the
parsed ops, and the checkers' `HistoryIndex`, to `preloaded_run`: inside that block the digests of
that run directory are built from them instead of reading the files again. Without an index the
same per-op pass runs over the parsed ops; with one, sends and receipts come from the index and
the history is walked again only to collect the few trails' ops and the logins around them.
"""

from __future__ import annotations

import json
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import compress, count, repeat
from operator import is_not
from pathlib import Path
from typing import Any

from checkers import FaultOps, fault_ops_of
from checkers._ops import Value

from ._runfiles import JsonlStats, iter_jsonl

NS_PER_MS = 1_000_000
MAX_OPS_PER_TRAIL = 60  # ops kept per message id (its send and receipts); the rest are counted
MAX_EVENTS_PER_TRAIL = 30



@dataclass
class PreloadedRun:
    """A run directory's files already parsed: `history`/`events` as lists of objects (`None`
    when absent), `index` a `checkers.HistoryIndex` of `history` (optional)."""

    run_dir: Path
    history: list[dict[str, Any]] | None
    events: list[dict[str, Any]] | None = None
    index: Any = None
    skipped_history: int = 0
    # a history digest built ahead (`prepare_history_digest`): (trail ids, fault kinds, digest)
    prepared: tuple[set[str], dict[str, Any] | None, HistoryDigest] | None = None


_PRELOADED: ContextVar[PreloadedRun | None] = ContextVar("imfault_report_preloaded", default=None)


@contextmanager
def preloaded_run(run: PreloadedRun) -> Iterator[None]:
    """Within the block, digests of `run.run_dir`'s files use `run` instead of reading them."""
    token = _PRELOADED.set(run)
    try:
        yield
    finally:
        _PRELOADED.reset(token)


def _same_file(path: Path, expected: Path) -> bool:
    if Path(path) == expected:
        return True
    try:
        return os.path.samefile(path, expected)
    except OSError:
        return False


def _preloaded_for(path: Path, attribute: str) -> PreloadedRun | None:
    """The preloaded run whose `attribute` file (history.jsonl / events.jsonl) is `path`."""
    loaded = _PRELOADED.get()
    if loaded is None or getattr(loaded, attribute) is None:
        return None
    return loaded if _same_file(path, loaded.run_dir / f"{attribute}.jsonl") else None


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


class IndexedSends(Mapping[str, SendFacts]):
    """Message id (as a string) -> `SendFacts`, over the checkers' `HistoryIndex.sends` (keyed by
    the raw ids, in invocation order) and each send's first receipt (time and via, by rank): no
    second dict of hundreds of thousands of entries, and a send's facts are built when read (the
    report reads a few: the trails' and a sample for the latency chart)."""

    def __init__(self, rows: dict[Any, list[Any]], received_at: list[Any],
                 via_of: list[Any]) -> None:
        self._rows = rows
        self._ordered = list(rows.values())  # by rank
        self._received_at = received_at
        self._via_of = via_of
        self._by_str: dict[str, int] | None = None  # str(id) -> rank, if some raw id is not a str

    def _str_keyed(self) -> dict[str, int] | None:
        if self._by_str is None and not set(map(type, self._rows)) <= {str}:
            self._by_str = {str(key): row[5] for key, row in self._rows.items()}
        return self._by_str

    def _facts(self, rank: int) -> SendFacts:
        sender, recipient, dc, _process, sent, _rank, outcome, _done, _id, _receipt = \
            self._ordered[rank]
        return SendFacts(sent if sent.__class__ is int else int(sent),
                         sender if sender.__class__ is str else str(sender),
                         recipient if recipient.__class__ is str else str(recipient),
                         dc if dc.__class__ is str else str(dc),
                         outcome if outcome.__class__ is str else str(outcome),
                         self._received_at[rank], self._via_of[rank])

    def __getitem__(self, msg_id: str) -> SendFacts:
        row = self._rows.get(msg_id)
        if row is not None and msg_id.__class__ is str:
            return self._facts(row[5])
        by_str = self._str_keyed()
        if by_str is None:
            raise KeyError(msg_id)
        return self._facts(by_str[msg_id])

    def __iter__(self) -> Iterator[str]:
        by_str = self._str_keyed()
        return iter(by_str if by_str is not None else self._rows)

    def __len__(self) -> int:
        return len(self._ordered)

    def values(self) -> list[SendFacts]:  # type: ignore[override]
        """The facts in invocation order (a list: iterating it needs no lookups)."""
        return [self._facts(rank) for rank in range(len(self._ordered))]

    def received(self, limit: int) -> tuple[list[SendFacts], int]:
        """`received_sends` without building the facts of the sends left out."""
        ranks = list(compress(range(len(self._ordered)),
                              map(is_not, self._received_at, repeat(None))))
        return [self._facts(rank) for rank in _sample(ranks, limit)], len(ranks)


def received_sends(sends: Mapping[str, SendFacts], limit: int) -> tuple[list[SendFacts], int]:
    """The sends received by their recipient, in invocation order, thinned to every k-th when
    there are more than `limit` (k the smallest that leaves at most `limit`), and how many there
    are in all."""
    if isinstance(sends, IndexedSends):
        return sends.received(limit)
    received = [facts for facts in sends.values() if facts.first_receipt_time is not None]
    return _sample(received, limit), len(received)


def _sample(items: list[Any], limit: int) -> list[Any]:
    return items[::math.ceil(len(items) / limit)] if len(items) > limit else items


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
    sends: Mapping[str, SendFacts] = field(default_factory=dict)
    nemesis_ops: list[dict[str, Any]] = field(default_factory=list)
    intervals: list[NemesisInterval] = field(default_factory=list)
    session_ops: list[dict[str, Any]] = field(default_factory=list)  # login/logout, all of them
    trail_ops: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    trail_overflow: dict[str, int] = field(default_factory=lambda: defaultdict(int))
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


def _time_of(op: dict[str, Any]) -> int:
    """An op's time as an int (a finite float is truncated, anything else, NaN and infinities
    included, is 0), without mutating it."""
    time = op.get("time")
    if time.__class__ is int:
        return time  # type: ignore[return-value]
    return int(time) if isinstance(time, float) and math.isfinite(time) else 0


class _IntervalTracker:
    """Pairs the ops that open and close a fault (in history order, as the run's `fault_ops`
    name them) into `NemesisInterval`s of that fault's kind."""

    def __init__(self, fault_ops: FaultOps | None = None) -> None:
        faults = fault_ops if fault_ops is not None else fault_ops_of(None)
        self.opens, self.closes = faults.opens, faults.closes
        self.open: dict[str, list[tuple[int, str, str]]] = defaultdict(list)
        self.closed: list[NemesisInterval] = []

    def add(self, op: dict[str, Any], time: int) -> None:
        f = op.get("f")
        value = op.get("value")
        if f in self.opens and op.get("type") == "invoke":
            self.open[self.opens[f]].append((time, _interval_key(value), _target_label(value)))
        elif f in self.closes and op.get("type") != "invoke":
            stack = self.open[self.closes[f]]
            if stack:
                key = _interval_key(value)
                pos = next((i for i, item in enumerate(stack) if item[1] == key), 0)
                start, _key, open_label = stack.pop(pos)
                self.closed.append(NemesisInterval(
                    self.closes[f], start, time, open_label or _target_label(value), True))

    def intervals(self, end_time: int) -> list[NemesisInterval]:
        """Closed intervals plus those still open at `end_time`, by start time."""
        result = list(self.closed)
        for kind_name, stack in self.open.items():
            for start, _key, label in stack:
                result.append(NemesisInterval(kind_name, start, end_time, label, False))
        result.sort(key=lambda item: (item.start, item.kind))
        return result


def digest_ops(ops: Iterable[dict[str, Any]], trail_ids: set[str],
               fault_ops: FaultOps | None = None) -> HistoryDigest:
    """One pass over history ops (objects in history order); keep every op of `trail_ids`.
    `fault_ops`: the run's (`fault_ops_of(test.json)`; None: the built-in table)."""
    digest = HistoryDigest()
    sends: dict[str, SendFacts] = {}
    digest.sends = sends
    tracker = _IntervalTracker(fault_ops)
    end_time = 0
    count = 0
    for op in ops:
        count += 1
        time = _time_of(op)
        if op.get("time") is not time:
            op["time"] = time  # ops parsed for this digest alone: later readers see an int
        end_time = max(end_time, time)
        f = op.get("f")
        value = op.get("value")
        kind = op.get("type")
        if op.get("process") == "nemesis":
            digest.nemesis_ops.append(op)
            tracker.add(op, time)
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
            if msg_id in trail_ids:
                _keep(digest, msg_id, op)
        elif f in ("login", "logout"):
            digest.session_ops.append(op)
    digest.op_count = count
    digest.end_time = end_time
    digest.intervals = tracker.intervals(end_time)
    return digest


def digest_history(path: Path, trail_ids: set[str],
                   fault_ops: FaultOps | None = None) -> HistoryDigest:
    """Digest `history.jsonl`: from the run handed to `preloaded_run` when it is that run's file
    (no second parse), else read once, streaming."""
    loaded = _preloaded_for(path, "history")
    if loaded is not None and loaded.history is not None:
        prepared, loaded.prepared = loaded.prepared, None  # used once
        if prepared is not None and prepared[0] == trail_ids \
                and prepared[1] == (fault_ops.kinds if fault_ops is not None else None):
            return prepared[2]
        digest = None
        if loaded.index is not None:
            try:
                digest = digest_index(loaded.index, trail_ids, fault_ops)
            except (AttributeError, KeyError, TypeError, ValueError):  # not a list of op dicts
                digest = None
        if digest is None:
            digest = digest_ops((op for op in loaded.history if isinstance(op, dict)), trail_ids,
                                fault_ops)
        digest.skipped_lines = loaded.skipped_history
        return digest
    stats = JsonlStats()
    digest = digest_ops(iter_jsonl(path, stats), trail_ids, fault_ops)
    digest.skipped_lines = stats.skipped
    return digest


def prepare_history_digest(loaded: PreloadedRun, path: Path, trail_ids: set[str],
                           fault_ops: FaultOps | None) -> None:
    """Build `digest_history(path, trail_ids, fault_ops)` of `loaded` now and keep it in
    `loaded.prepared`: a later `digest_history` with the same arguments, inside
    `preloaded_run(loaded)`, returns it instead of building it again (once)."""
    with preloaded_run(loaded):
        digest = digest_history(path, trail_ids, fault_ops)
    loaded.prepared = (set(trail_ids), fault_ops.kinds if fault_ops is not None else None, digest)


def digest_index(index: Any, trail_ids: set[str],
                 fault_ops: FaultOps | None = None) -> HistoryDigest:
    """The digest built from a `checkers.HistoryIndex` (the checkers' one pass over the history)
    plus, only when there are trails to show, one pass for their ops and the logins.

    Sends, outcomes and first receipts are the checkers' own (first invocation, first completion,
    first receipt by the recipient, also when it was logged before the send), so the report's
    numbers agree with `results.json`. Mostly C-level passes over the index's lists: touching each
    receipt op again would cost more (they are scattered over the heap) than the rest together.
    """
    history: Any = index.history  # a sequence of op dicts (an OpLog decodes them when read)
    digest = HistoryDigest(op_count=len(history))
    # row: [from, to, dc, process, invoke_time, rank, outcome, complete_time, id, receipt]
    rows = index.sends
    received_at: list[Any] = [None] * len(rows)
    via_of: list[Any] = [None] * len(rows)
    for row, received, via in index.deliveries:  # (send row, time, via) of each first receipt
        rank = row[5]  # rank in invocation order = position in `rows`
        received_at[rank] = received if received.__class__ is int else int(received)
        via_of[rank] = via if via.__class__ is str else str(via)
    digest.sends = IndexedSends(rows, received_at, via_of)
    tracker = _IntervalTracker(fault_ops)
    digest.nemesis_ops = [_with_int_time(op) for op in index.nemesis_ops]
    for op in digest.nemesis_ops:
        tracker.add(op, op["time"])
    records = index.records
    try:
        if index.sanitised or len(records) != len(history):
            raise TypeError("a malformed op somewhere")
        if trail_ids and not index.str_ids:  # ids that are not strings: one more pass
            digest.end_time = _collect_trail_ops_fast(digest, history, records, trail_ids)
        elif trail_ids:  # trails also show the logins and logouts around them
            digest.end_time = _collect_trail_ops_indexed(digest, index, trail_ids)
        else:
            digest.end_time = _latest_time(_max_time(index))
    except (KeyError, TypeError, ValueError, AttributeError):  # a malformed op somewhere
        digest.trail_ops.clear()
        digest.trail_overflow.clear()
        digest.session_ops.clear()
        digest.end_time = max(map(_time_of, history), default=0)
        if trail_ids:
            _collect_trail_ops(digest, history, trail_ids)
    digest.intervals = tracker.intervals(digest.end_time)
    return digest


def _latest_time(latest: Any) -> int:
    """`_time_of`'s reading of the largest time of well-formed ops (a float is truncated)."""
    if latest.__class__ is not int:
        latest = int(latest)  # a str (an unordered mix raised already) fails: ValueError
    return max(0, latest)  # type: ignore[no-any-return]


def _max_time(index: Any) -> Any:
    """The index's `max(op times)`, raising `TypeError` as it did if they do not compare."""
    latest, error = index.max_time()
    if error:
        raise TypeError("op times that do not compare")
    return latest


def _collect_trail_ops_indexed(digest: HistoryDigest, index: Any, trail_ids: set[str]) -> int:
    """`_collect_trail_ops_fast` without a pass over the history: the trails' ops and the
    sessions at the positions the index noted (sent ids all strings; raises on what the pass
    would raise on); returns the latest op time."""
    latest = _max_time(index)
    if latest.__class__ not in (int, float, bool):  # the pass compares each time with 0
        raise TypeError("op times are not numbers")
    history, records, sends, ranks = index.history, index.records, index.sends, index.op_ranks
    if len(ranks) != len(records):
        raise TypeError("no op ranks")
    positions = [position for position in index.orphan_positions
                 if str(records[position].value.id) in trail_ids]
    wanted = {sends[msg_id][5] for msg_id in trail_ids if msg_id in sends}
    if wanted:  # at C speed over an array: no object of the history touched
        positions.extend(compress(count(), map(wanted.__contains__, ranks)))
    positions.sort()  # history order
    for position in positions:
        op = records[position]
        if op.process != "nemesis":
            msg_id = op.value.id
            _keep(digest, msg_id if msg_id.__class__ is str else str(msg_id),
                  _with_int_time(history[position]))
    digest.session_ops.extend(_with_int_time(history[position])
                              for position in index.session_positions)
    return _latest_time(latest)


def _collect_trail_ops_fast(
    digest: HistoryDigest, history: Any, records: list[Any], trail_ids: set[str]
) -> int:
    """`_collect_trail_ops` for well-formed ops (raises on a malformed one), reading the index's
    records and, for the ops kept, their dicts in `history`; returns the latest op time."""
    sessions = digest.session_ops
    latest = 0
    for position, op in enumerate(records):
        time = op.time
        if time > latest:  # noqa: PLR1730 (a call to max() per op costs more)
            latest = time
        f = op.f
        if f == "recv" or f == "send":
            msg_id = op.value.id
            if msg_id.__class__ is not str:
                msg_id = str(msg_id)
            if msg_id in trail_ids and op.process != "nemesis":
                _keep(digest, msg_id, _with_int_time(history[position]))
        elif (f == "login" or f == "logout") and op.process != "nemesis":
            if op.value.__class__ is not Value:
                raise TypeError("value is not an object")
            sessions.append(_with_int_time(history[position]))
    return _latest_time(latest)


def _collect_trail_ops(
    digest: HistoryDigest, history: list[dict[str, Any]], trail_ids: set[str]
) -> None:
    sessions = digest.session_ops
    for op in history:
        if not isinstance(op, dict):
            continue
        f = op.get("f")
        if f == "send" or f == "recv":
            value = op.get("value")
            if value.__class__ is not dict or op.get("process") == "nemesis":
                continue
            msg_id = value.get("id")  # type: ignore[union-attr]
            if msg_id.__class__ is not str:
                msg_id = str(msg_id)
            if msg_id in trail_ids:
                _keep(digest, msg_id, _with_int_time(op))
        elif (f == "login" or f == "logout") and op.get("process") != "nemesis" and isinstance(
                op.get("value"), dict):
            sessions.append(_with_int_time(op))


def _with_int_time(op: dict[str, Any]) -> dict[str, Any]:
    """`op` itself when its time is an int, else a copy with `_time_of` (the checkers' ops are
    shared, so they are not modified)."""
    return op if op.get("time").__class__ is int else {**op, "time": _time_of(op)}


@dataclass
class EventsDigest:
    """Per-dot convergence as read from `events.jsonl`."""

    dots: int = 0
    converged_ms: list[float] = field(default_factory=list)
    unconverged: int = 0
    msg_events: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))


def digest_events(path: Path, dc_names: list[str], trail_ids: set[str]) -> EventsDigest:
    """Per dot: time from `originate` to the last DC's `apply`; keep msg events of `trail_ids`.

    Reads `events.jsonl` once, or uses the preloaded run's events (see `preloaded_run`)."""
    loaded = _preloaded_for(path, "events")
    if loaded is not None and loaded.events is not None:
        return digest_event_objects(loaded.events, dc_names, trail_ids)
    return digest_event_objects(iter_jsonl(path), dc_names, trail_ids)


def digest_event_objects(
    events: Iterable[dict[str, Any]], dc_names: list[str], trail_ids: set[str]
) -> EventsDigest:
    """`digest_events` over event objects already parsed."""
    result = EventsDigest()
    first: dict[tuple[str, int], int] = {}
    last: dict[tuple[str, int], int] = {}
    seen_dcs: dict[tuple[str, int], set[str]] = defaultdict(set)
    for event in events:
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
