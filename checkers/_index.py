"""One pass over a history that builds what several checkers need (sends, receipts, sessions).

Every checker accepts either a raw history (a list of op dicts, DESIGN §2) or a `HistoryIndex`;
`check_all` indexes once and hands the same index to each checker, so a 1,000,000-op history is
walked once. The walk is the hot loop of checking and is written for speed: it indexes op fields
directly and, should an op be malformed (a missing field, a non-dict value), starts over on a
sanitised copy of the history instead of paying for defensive lookups on every op.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

Op = dict[str, Any]

# Positions in a send row:
# [from, to, dc, process, invoke_time, invoke_rank (0, 1, ... in invocation order), outcome,
#  complete_time, id, first receipt by the recipient (the recv op) or None]
(S_FROM, S_TO, S_DC, S_PROCESS, S_INVOKE_TIME, S_INVOKE_RANK, S_OUTCOME, S_COMPLETE_TIME, S_ID,
 S_RECEIPT) = range(10)
SendRow = list[Any]

# value fields the walk reads with [] (filled with None by `_sanitised` when missing)
_FIELDS_READ = {"recv": ("user", "id", "from", "to", "dc", "via"), "send": ("id", "from", "to", "dc"),
                "logout": ("user",)}


@dataclass
class HistoryIndex:
    """What one pass over a history yields."""

    history: list[Op]
    # message id -> send row (see S_* positions); insertion order = invocation order
    sends: dict[Any, SendRow] = field(default_factory=dict)
    # every recv op, in history order
    receipts: list[Op] = field(default_factory=list)
    # message id -> the first recv op of it by its intended recipient
    first_receipts: dict[Any, Op] = field(default_factory=dict)
    # (send row, time of the first receipt by the recipient, its via) for every sent id
    # received, in receipt order
    deliveries: list[tuple[SendRow, int, Any]] = field(default_factory=list)
    unexpected: set[Any] = field(default_factory=set)
    misdelivered: set[Any] = field(default_factory=set)
    duplicated: set[Any] = field(default_factory=set)
    recipient_receipts: int = 0
    # user -> {dc, node, conn, time} of the login of every user online at the end
    online: dict[Any, dict[str, Any]] = field(default_factory=dict)
    nemesis_ops: list[Op] = field(default_factory=list)
    # (f, type) -> count of client ops other than recv and tracked send ops (see `op_counts`)
    other_counts: dict[tuple[Any, Any], int] = field(default_factory=dict)
    last_time: int = 0
    duplicate_send_invocations: int = 0

    def op_counts(self) -> dict[tuple[Any, Any], int]:
        """(f, type) -> number of client ops, for every op of the history."""
        counts = dict(self.other_counts)
        for kind, count in Counter(op.get("type") for op in self.receipts).items():
            counts[("recv", kind)] = count
        invokes = len(self.sends) + self.duplicate_send_invocations
        if invokes:
            counts[("send", "invoke")] = counts.get(("send", "invoke"), 0) + invokes
        for outcome, count in Counter(row[S_OUTCOME] for row in self.sends.values()).items():
            if outcome != "pending":
                counts[("send", outcome)] = counts.get(("send", outcome), 0) + count
        return counts


def index_history(history: list[Op] | HistoryIndex) -> HistoryIndex:
    """Index a history (idempotent: an index is returned as is)."""
    if isinstance(history, HistoryIndex):
        return history
    index = HistoryIndex(history=history)
    try:
        _walk(index, history)
        _classify_receipts(index)
    except (KeyError, TypeError, AttributeError):
        index = HistoryIndex(history=history)
        sanitised = [_sanitised(op) for op in history]
        _walk(index, sanitised)
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
    return {**op, "f": f, "type": op.get("type"), "process": op.get("process"),
            "time": time if isinstance(time, (int, float)) else 0,
            "value": {**dict.fromkeys(needed), **value}}


# canonical outcome strings, so later comparisons hit the identity fast path
_OUTCOMES = {"ok": "ok", "fail": "fail", "info": "info"}


def _walk(index: HistoryIndex, history: list[Op]) -> None:
    sends = index.sends
    receipts = index.receipts
    online = index.online
    nemesis_ops = index.nemesis_ops
    counts = index.other_counts
    add_receipt = receipts.append
    login_dc: dict[Any, Any] = {}
    # one shared object per user / DC name: later comparisons and hashing touch a few hot objects
    names: dict[Any, Any] = {}
    canonical = names.setdefault
    for op in history:
        f = op["f"]
        if f == "recv":
            add_receipt(op)
            continue
        if f == "send":
            kind = op["type"]
            value = op["value"]
            msg_id = value["id"]
            row = sends.get(msg_id)
            if kind == "invoke":
                if row is None:
                    sender, recipient, dc = value["from"], value["to"], value["dc"]
                    sends[msg_id] = [canonical(sender, sender), canonical(recipient, recipient),
                                     canonical(dc, dc), op["process"], op["time"], len(sends),
                                     "pending", None, msg_id, None]
                else:
                    index.duplicate_send_invocations += 1
                continue
            if row is not None and row[6] == "pending":
                row[6] = _OUTCOMES.get(kind, kind)
                row[7] = op["time"]
                continue
        elif op["process"] == "nemesis":
            nemesis_ops.append(op)
            continue
        kind = op["type"]
        if f == "login":
            value = op["value"]
            user = value.get("user")
            if kind == "invoke":
                login_dc[user] = value.get("dc")
            elif kind == "ok":
                online[user] = {"dc": value.get("dc", login_dc.get(user)),
                                "node": value.get("node"), "conn": value.get("conn"),
                                "time": op["time"]}
        elif f == "logout":
            online.pop(op["value"]["user"], None)
        key = (f, kind)
        counts[key] = counts.get(key, 0) + 1
    # a history is appended as ops happen, so its last op is (nearly) its latest
    last_time = history[-1]["time"] if history else 0
    for op in nemesis_ops:
        last_time = max(last_time, op["time"])
    index.last_time = last_time


def _classify_receipts(index: HistoryIndex) -> None:
    """Sort receipts into first receipts by the recipient, duplicates, misdeliveries, unknown ids."""
    sends = index.sends
    first = index.first_receipts
    deliveries = index.deliveries
    unexpected = index.unexpected
    misdelivered = index.misdelivered
    duplicated = index.duplicated
    for_recipient = 0
    for op in index.receipts:
        value = op["value"]
        msg_id = value["id"]
        send = sends.get(msg_id)
        if send is None:
            unexpected.add(msg_id)
            intended = value.get("to")
        else:
            intended = send[1]
        if value.get("user") != intended:
            misdelivered.add(msg_id)
            continue
        for_recipient += 1
        if msg_id in first:
            duplicated.add(msg_id)
        else:
            first[msg_id] = op
            if send is not None:
                send[9] = op
                deliveries.append((send, op["time"], value.get("via")))
    index.recipient_receipts = for_recipient
