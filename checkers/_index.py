"""One pass over a history that builds what several checkers need (sends, receipts, sessions).

Every checker accepts either a raw history (a list of op dicts, DESIGN §2) or a `HistoryIndex`;
`check_all` indexes once and hands the same index to each checker, so a 1,000,000-op history is
walked once. The walk is the hot loop of checking and is written for speed: it reads the ops'
compact `Record`s (`checkers._ops`; a loaded run's `OpLog` decoded its lines straight into them)
and, should an op be malformed (an unusable field, a non-dict value), starts over on a sanitised
copy of the history instead of paying for defensive lookups on every op.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

from ._ops import UNSET, OpLog, records_of

Op = dict[str, Any]

# Positions in a send row:
# [from, to, dc, process, invoke_time, invoke_rank (0, 1, ... in invocation order), outcome,
#  complete_time, id, time of the first receipt by the recipient or None]
(S_FROM, S_TO, S_DC, S_PROCESS, S_INVOKE_TIME, S_INVOKE_RANK, S_OUTCOME, S_COMPLETE_TIME, S_ID,
 S_RECEIPT) = range(10)
SendRow = list[Any]

# value fields the walk reads with [] (filled with None by `_sanitised` when missing)
_FIELDS_READ = {"recv": ("user", "id", "from", "to", "dc", "via"),
                "send": ("id", "from", "to", "dc"), "logout": ("user",)}


@dataclass
class HistoryIndex:
    """What one pass over a history yields."""

    history: Sequence[Op]
    # the ops' `Record`s (checkers._ops), in history order
    records: list[Any] = field(default_factory=list)
    # built from a sanitised copy of the history (some op was malformed)
    sanitised: bool = False
    # message id -> send row (see S_* positions); insertion order = invocation order
    sends: dict[Any, SendRow] = field(default_factory=dict)
    # every recv op's record, in history order, and its time
    receipts: list[Any] = field(default_factory=list)
    receipt_times: list[int] = field(default_factory=list)
    # ids received by their intended recipient although never sent
    unexpected_received: set[Any] = field(default_factory=set)
    # (send row, time of the first receipt by the recipient, its via) for every sent id
    # received, in receipt order
    deliveries: list[tuple[SendRow, int, Any]] = field(default_factory=list)
    unexpected: set[Any] = field(default_factory=set)
    misdelivered: set[Any] = field(default_factory=set)
    duplicated: set[Any] = field(default_factory=set)
    # receipts by the recipient after its first one of the same id (the duplicates), in order
    extra_receipts: list[Op] = field(default_factory=list)
    # sent ids received with a `from` other than the send's (by anyone)
    corrupted: set[Any] = field(default_factory=set)
    recipient_receipts: int = 0  # receipts whose user is the message's recipient
    first_receipt_count: int = 0  # distinct ids among those
    # user -> [(time, True) at each login ok, (time, False) at each logout invocation], in order
    session_marks: dict[Any, list[tuple[Any, bool]]] = field(default_factory=dict)
    # user -> {dc, node, conn, time} of the login of every user online at the end
    online: dict[Any, dict[str, Any]] = field(default_factory=dict)
    nemesis_ops: list[Op] = field(default_factory=list)
    early_receipts: list[Op] = field(default_factory=list)
    # (f, type) -> count of client ops other than recv ok and tracked send ops (see `op_counts`)
    other_counts: dict[tuple[Any, Any], int] = field(default_factory=dict)
    last_time: int = 0
    duplicate_send_invocations: int = 0
    # the report's trails read these ops without another pass over the history: per position in
    # the history, the rank of the send row of a send or recv op (-1 for other ops), the
    # positions of send and recv ops of ids without a send row when they came, and of the login
    # and logout ops that are not the nemesis's
    op_ranks: array[int] = field(default_factory=lambda: array("q"))
    orphan_positions: list[int] = field(default_factory=list)
    session_positions: list[int] = field(default_factory=list)
    str_ids: bool = True  # every sent id is a str
    _max_time: tuple[Any, bool] | None = field(default=None, repr=False)

    def max_time(self) -> tuple[Any, bool]:
        """(the largest op time: `max` of the records' times, 0 without ops; False), or (None,
        True) when the times do not compare. Computed once (`check_all` does it before it
        forks, so that neither process walks the records again)."""
        if self._max_time is None:
            try:
                self._max_time = (max(map(attrgetter("time"), self.records), default=0), False)
            except TypeError:
                self._max_time = (None, True)
        return self._max_time

    def op_counts(self) -> dict[tuple[Any, Any], int]:
        """(f, type) -> number of client ops, for every op of the history."""
        counts = dict(self.other_counts)
        odd_receipts = sum(count for (f, _), count in counts.items() if f == "recv")
        if len(self.receipts) > odd_receipts:
            counts[("recv", "ok")] = len(self.receipts) - odd_receipts
        invokes = len(self.sends) + self.duplicate_send_invocations
        if invokes:
            counts[("send", "invoke")] = counts.get(("send", "invoke"), 0) + invokes
        for outcome, count in Counter(row[S_OUTCOME] for row in self.sends.values()).items():
            if outcome != "pending":
                counts[("send", outcome)] = counts.get(("send", outcome), 0) + count
        return counts


def index_history(history: Sequence[Op] | HistoryIndex) -> HistoryIndex:
    """Index a history (idempotent: an index is returned as is).

    The pass reads the ops' `Record`s (`checkers._ops`): those an `OpLog` (`load_run`) holds, or
    records converted from a list of op dicts. Should an op be malformed (a missing or unusable
    field, not a dict), it starts over on a sanitised copy of the history's dicts."""
    if isinstance(history, HistoryIndex):
        return history
    records = history.records if isinstance(history, OpLog) else None
    try:
        if records is None:
            records = records_of(history)
        index = HistoryIndex(history=history, records=records)
        _walk(index, records, history)
        _classify_receipts(index)
    except (KeyError, TypeError, AttributeError, ValueError):
        sanitised = [_sanitised(op) for op in history]
        index = HistoryIndex(history=history, records=records_of(sanitised), sanitised=True)
        _walk(index, index.records, sanitised)
        _classify_receipts(index)
    return index


def _sanitised(op: Any) -> Op:
    """A copy of `op` with every field the walk reads present and of a usable type."""
    if not isinstance(op, dict):
        op = {}
    value = op.get("value")
    value = value if isinstance(value, dict) else {}
    time = op.get("time")
    f = op.get("f")
    needed = _FIELDS_READ.get(f, ()) if isinstance(f, str) else ()
    value = {**dict.fromkeys(needed), **value}
    for key in needed:
        if not isinstance(value[key], (str, int, float, type(None))):
            value[key] = str(value[key])  # ids and names are used as dict keys
    return {**op, "f": f, "type": op.get("type"), "process": op.get("process"),
            "time": time if isinstance(time, (int, float)) else 0, "value": value}


# canonical outcome strings, so later comparisons hit the identity fast path
_OUTCOMES = {"ok": "ok", "fail": "fail", "info": "info"}


def _walk(index: HistoryIndex, records: list[Any], ops: Sequence[Op]) -> None:
    """The pass over `records`; `ops` are the same ops as dicts (read for the few ops kept as
    dicts: nemesis ops, receipts of ids not sent yet, duplicate receipts)."""
    sends = index.sends
    receipts = index.receipts
    online = index.online
    nemesis_ops = index.nemesis_ops
    counts = index.other_counts
    add_receipt = receipts.append
    add_receipt_time = index.receipt_times.append
    deliveries = index.deliveries
    add_delivery = deliveries.append
    misdelivered = index.misdelivered
    duplicated = index.duplicated
    corrupted = index.corrupted
    add_extra = index.extra_receipts.append
    marks = index.session_marks
    add_orphan = index.orphan_positions.append
    add_session = index.session_positions.append
    rank_at = index.op_ranks = array("q", [-1]) * len(records)
    # receipts of ids not (yet) sent when they appear: classified after the walk
    early = index.early_receipts
    for_recipient = 0
    login_dc: dict[Any, Any] = {}
    # one shared object per user / DC name: later comparisons and hashing touch a few hot objects
    names: dict[Any, Any] = {}
    canonical = names.setdefault
    vias: dict[str, str] = {}
    canonical_via = vias.setdefault
    for position, op in enumerate(records):
        f = op.f
        if f == "recv":
            add_receipt(op)
            time = op.time + 0  # a non-numeric time fails here: see `_sanitised`
            add_receipt_time(time)
            if op.type != "ok":  # recv is a single ok op; count any other type apart
                key = ("recv", op.type)
                counts[key] = counts.get(key, 0) + 1
            value = op.value
            msg_id = value.id
            row = sends.get(msg_id)
            if row is None:
                early.append(ops[position])
                add_orphan(position)
                continue
            rank_at[position] = row[5]
            sender = value.from_
            if sender != row[0] and sender is not None:
                corrupted.add(msg_id)
            if value.user != row[1]:
                misdelivered.add(msg_id)
            else:
                for_recipient += 1
                if row[9] is None:
                    row[9] = time
                    via = value.via  # "online"/"offline": shared, or the checkers' passes
                    if via.__class__ is str:  # over deliveries touch every receipt's string
                        via = canonical_via(via, via)
                    add_delivery((row, time, via))
                else:
                    duplicated.add(msg_id)
                    add_extra(ops[position])
            continue
        if f == "send":
            kind = op.type
            value = op.value
            msg_id = value.id
            row = sends.get(msg_id)
            if kind == "invoke":
                if row is None:
                    if msg_id.__class__ is not str:
                        index.str_ids = False
                    sender, recipient, dc = value.from_, value.to, value.dc
                    if dc is UNSET:
                        dc = None
                    rank = rank_at[position] = len(sends)
                    sends[msg_id] = [canonical(sender, sender), canonical(recipient, recipient),
                                     canonical(dc, dc), op.process, op.time + 0, rank,
                                     "pending", None, msg_id, None]
                else:
                    rank_at[position] = row[5]
                    index.duplicate_send_invocations += 1
                    if row[6] == "fail":  # a retry after a definite failure: open again
                        _count_replaced(counts, row)
                        row[6] = "pending"
                continue
            if row is None:
                add_orphan(position)
            else:
                rank_at[position] = row[5]
                if row[6] == "pending":
                    row[6] = _OUTCOMES.get(kind, kind)
                    row[7] = op.time + 0
                    continue
                if kind == "ok" and row[6] != "ok":  # a retry acknowledged: the id is acked
                    _count_replaced(counts, row)
                    row[6] = "ok"
                    row[7] = op.time + 0
                    continue
        elif op.process == "nemesis":
            nemesis_ops.append(ops[position])
            continue
        kind = op.type
        if f == "login":
            add_session(position)
            value = op.value
            user = value.user
            dc = value.dc
            if kind == "invoke":
                login_dc[user] = None if dc is UNSET else dc
            elif kind == "ok":
                online[user] = {"dc": login_dc.get(user) if dc is UNSET else dc,
                                "node": value.node, "conn": value.conn, "time": op.time}
                _mark(marks, user, op.time, True)
        elif f == "logout":
            add_session(position)
            user = op.value.user
            online.pop(user, None)
            if kind == "invoke":
                _mark(marks, user, op.time, False)
        key = (f, kind)
        counts[key] = counts.get(key, 0) + 1
    # a history is appended as ops happen, so its last op is (nearly) its latest
    candidates = [*(op.time for op in records[-1:]), *(op["time"] for op in nemesis_ops)]
    index.last_time = int(max((t for t in candidates if isinstance(t, (int, float))), default=0))
    index.recipient_receipts = for_recipient


def _mark(marks: dict[Any, list[tuple[Any, bool]]], user: Any, time: Any, opened: bool) -> None:
    """Record a login ok (`opened`) or a logout invocation of `user` (numeric times only)."""
    if isinstance(time, (int, float)):
        marks.setdefault(user, []).append((time, opened))


def _count_replaced(counts: dict[tuple[Any, Any], int], row: SendRow) -> None:
    """Count a send completion a retry's outcome replaces in `row` (so `op_counts` keeps it)."""
    key = ("send", row[6])
    counts[key] = counts.get(key, 0) + 1


def _classify_receipts(index: HistoryIndex) -> None:
    """Classify receipts the walk could not (no send invoked before them); count first receipts."""
    sends = index.sends
    for op in index.early_receipts:
        value = op["value"]
        msg_id = value["id"]
        send = sends.get(msg_id)
        if send is not None and value.get("from") not in (send[0], None):
            index.corrupted.add(msg_id)
        intended = value.get("to") if send is None else send[1]
        if value.get("user") != intended:
            if send is not None:  # an id never sent is `unexpected` only: one finding
                index.misdelivered.add(msg_id)
            continue
        index.recipient_receipts += 1
        if send is None:
            if msg_id in index.unexpected_received:
                index.duplicated.add(msg_id)
                index.extra_receipts.append(op)
            index.unexpected.add(msg_id)
            index.unexpected_received.add(msg_id)
        elif send[9] is None:
            send[9] = op["time"]
            index.deliveries.append((send, op["time"], value.get("via")))
        else:
            index.duplicated.add(msg_id)
            index.extra_receipts.append(op)
    for op in index.early_receipts:
        msg_id = op["value"]["id"]
        if msg_id not in sends:
            index.unexpected.add(msg_id)
    index.first_receipt_count = len(index.deliveries) + len(index.unexpected_received)
