"""One pass over a history that builds what several checkers need (sends, receipts, sessions).

Every checker accepts either a raw history (a list of op dicts, DESIGN §2) or a `HistoryIndex`;
`check_all` indexes once and hands the same index to each checker, so a 1,000,000-op history is
walked once. The walk is the hot loop of checking and is written for speed: it indexes op fields
directly and, should an op be malformed (a missing field, a non-dict value), starts over on a
sanitised copy of the history instead of paying for defensive lookups on every op.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Op = dict[str, Any]

# Positions in a send row: [from, to, dc, process, invoke_time, invoke_index, outcome, complete_time]
S_FROM, S_TO, S_DC, S_PROCESS, S_INVOKE_TIME, S_INVOKE_INDEX, S_OUTCOME, S_COMPLETE_TIME = range(8)
# Positions in a receipt tuple: (time, receiving user, id, from, to, dc, via)
R_TIME, R_USER, R_ID, R_FROM, R_TO, R_DC, R_VIA = range(7)

# value fields the walk reads with [] (filled with None by `_sanitised` when missing)
_FIELDS_READ = {"recv": ("user", "id", "from", "to", "dc", "via"), "send": ("id", "from", "to", "dc"),
                "logout": ("user",)}


@dataclass
class HistoryIndex:
    """What one pass over a history yields."""

    history: list[Op]
    # message id -> send row (see S_* positions); insertion order = invocation order
    sends: dict[Any, list[Any]] = field(default_factory=dict)
    # every recv op as a receipt tuple (see R_* positions), in history order
    receipts: list[tuple[Any, ...]] = field(default_factory=list)
    # first receipt of each id by its intended recipient, in history order
    first_receipts: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    unexpected: set[Any] = field(default_factory=set)
    misdelivered: set[Any] = field(default_factory=set)
    duplicated: set[Any] = field(default_factory=set)
    recipient_receipts: int = 0
    # user -> {dc, node, conn, time} of the login of every user online at the end
    online: dict[Any, dict[str, Any]] = field(default_factory=dict)
    nemesis_ops: list[Op] = field(default_factory=list)
    # (f, type) -> count, client ops only
    counts: dict[tuple[Any, Any], int] = field(default_factory=dict)
    last_time: int = 0
    duplicate_send_invocations: int = 0


def index_history(history: list[Op] | HistoryIndex) -> HistoryIndex:
    """Index a history (idempotent: an index is returned as is)."""
    if isinstance(history, HistoryIndex):
        return history
    index = HistoryIndex(history=history)
    try:
        _walk(index, history)
    except (KeyError, TypeError, AttributeError):
        index = HistoryIndex(history=history)
        _walk(index, [_sanitised(op) for op in history])
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


def _walk(index: HistoryIndex, history: list[Op]) -> None:
    sends = index.sends
    receipts = index.receipts
    online = index.online
    nemesis_ops = index.nemesis_ops
    counts = index.counts
    login_dc: dict[Any, Any] = {}
    last_time = 0
    position = -1
    for op in history:
        position += 1
        f = op["f"]
        if f == "recv":
            value = op["value"]
            time = op["time"]
            receipts.append((time, value["user"], value["id"], value["from"], value["to"],
                             value["dc"], value["via"]))
            key = ("recv", op["type"])
        else:
            time = op["time"]
            if op["process"] == "nemesis":
                nemesis_ops.append(op)
                if time > last_time:  # noqa: PLR1730 (max() is slower in this loop)
                    last_time = time
                continue
            kind = op["type"]
            key = (f, kind)
            if f == "send":
                value = op["value"]
                msg_id = value["id"]
                row = sends.get(msg_id)
                if kind == "invoke":
                    if row is None:
                        sends[msg_id] = [value["from"], value["to"], value["dc"],
                                         op["process"], time, position, "pending", None]
                    else:
                        index.duplicate_send_invocations += 1
                elif row is not None and row[6] == "pending":
                    row[6] = kind
                    row[7] = time
            elif f == "login":
                value = op["value"]
                user = value.get("user")
                if kind == "invoke":
                    login_dc[user] = value.get("dc")
                elif kind == "ok":
                    online[user] = {"dc": value.get("dc", login_dc.get(user)),
                                    "node": value.get("node"), "conn": value.get("conn"),
                                    "time": time}
            elif f == "logout":
                online.pop(op["value"]["user"], None)
        counts[key] = counts.get(key, 0) + 1
        if time > last_time:  # noqa: PLR1730
            last_time = time
    index.last_time = last_time


def _classify_receipts(index: HistoryIndex) -> None:
    """Sort receipts into first receipts by the recipient, duplicates, misdeliveries, unknown ids."""
    sends = index.sends
    first = index.first_receipts
    unexpected = index.unexpected
    misdelivered = index.misdelivered
    duplicated = index.duplicated
    for_recipient = 0
    for receipt in index.receipts:
        msg_id = receipt[2]
        send = sends.get(msg_id)
        if send is None:
            unexpected.add(msg_id)
            intended = receipt[4]
        else:
            intended = send[1]
        if receipt[1] != intended:
            misdelivered.add(msg_id)
            continue
        for_recipient += 1
        if msg_id in first:
            duplicated.add(msg_id)
        else:
            first[msg_id] = receipt
    index.recipient_receipts = for_recipient
