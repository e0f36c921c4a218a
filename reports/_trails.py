"""The trail of one message through a run: its send, receipts, hub events, and the context
around it (nemesis ops and the sender's and recipient's logins/logouts), so a reader sees why it
went wrong.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ._digest import EventsDigest, HistoryDigest, SendFacts
from ._svg import esc

NS = 1_000_000_000
MAX_ROWS = 40
MIN_CONTEXT_ROWS = 15  # nemesis and session rows kept even when receipts fill the trail
MAX_VALUE_CHARS = 300


@dataclass
class TrailRow:
    """One line of a trail table."""

    time: int
    source: str  # send | recv | nemesis | session | event
    process: str
    type: str
    f: str
    value: str


def _compact(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _op_row(op: dict[str, Any], source: str) -> TrailRow:
    return TrailRow(
        int(op.get("time") or 0),
        source,
        str(op.get("process")),
        str(op.get("type")),
        str(op.get("f")),
        _compact(op.get("value")) + (f"  error={_compact(op['error'])}" if "error" in op else ""),
    )


class TrailBuilder:
    """Builds trails from one history digest (indexes built once, queries are cheap)."""

    def __init__(
        self, history: HistoryDigest, events: EventsDigest | None, dc_names: list[str] | None = None
    ):
        self.history = history
        self.events = events
        self.dc_names = list(dc_names or [])
        self.sessions_by_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for op in history.session_ops:
            value = op.get("value")
            if isinstance(value, dict):
                self.sessions_by_user[str(value.get("user"))].append(op)
        self.nemesis_times = [int(op.get("time") or 0) for op in history.nemesis_ops]

    def _window(self, ops: list[dict[str, Any]], times: list[int], lo: int, hi: int) -> list[Any]:
        return ops[bisect.bisect_left(times, lo) : bisect.bisect_right(times, hi)]

    def rows(self, msg_id: str) -> tuple[list[TrailRow], int]:
        """Rows of the trail in time order, and how many context rows were left out."""
        facts = self.history.sends.get(msg_id)
        own = self.history.trail_ops.get(msg_id, [])
        core = [_op_row(op, "send" if op.get("f") == "send" else "recv") for op in own]
        if self.events is not None:
            for event in self.events.msg_events.get(msg_id, []):
                core.append(
                    TrailRow(
                        int(event.get("time") or 0),
                        "event",
                        str(event.get("node")),
                        str(event.get("event")),
                        str(event.get("kind")),
                        _compact({k: event.get(k) for k in ("dc", "origin", "seq")}),
                    )
                )
        times = [row.time for row in core]
        start = facts.invoke_time if facts else (min(times) if times else 0)
        last = max(times, default=start)
        if facts is not None and facts.first_receipt_time is None:
            last = self.history.end_time  # never arrived: everything after the send matters
        context = self._context(facts, msg_id, start, last)
        left_out = 0
        room = max(MIN_CONTEXT_ROWS, MAX_ROWS - len(core))
        if len(context) > room:
            context.sort(key=lambda row: abs(row.time - start))
            left_out = len(context) - room
            context = context[:room]
        rows = core + context
        rows.sort(key=lambda row: (row.time, row.source != "send"))
        return rows, left_out + self.history.trail_overflow.get(msg_id, 0)

    def _context(
        self, facts: SendFacts | None, msg_id: str, start: int, last: int
    ) -> list[TrailRow]:
        rows: list[TrailRow] = []
        nemesis = self._window(
            self.history.nemesis_ops, self.nemesis_times, start - 5 * NS, last + 1 * NS
        )
        seen = {id(op) for op in nemesis}
        for interval_op in self._active_openers(start):
            if id(interval_op) not in seen:
                nemesis.append(interval_op)
        rows += [_op_row(op, "nemesis") for op in nemesis]
        users: dict[str, tuple[int, int]] = {}
        if facts is not None:
            users[facts.sender] = (start - 2 * NS, start + 2 * NS)
            users[facts.recipient] = (start - 10 * NS, max(last, self.history.end_time))
        for op in self.history.trail_ops.get(msg_id, []):
            value = op.get("value")
            if isinstance(value, dict) and op.get("f") == "recv":
                users.setdefault(str(value.get("user")), (start - 10 * NS, last + NS))
        for user, (lo, hi) in users.items():
            ops = self.sessions_by_user.get(user, [])
            op_times = [int(op.get("time") or 0) for op in ops]
            rows += [_op_row(op, "session") for op in self._window(ops, op_times, lo, hi)]
        return rows

    def _active_openers(self, at: int) -> list[dict[str, Any]]:
        """Nemesis invoke ops of faults active at time `at`."""
        starts = {iv.start for iv in self.history.intervals if iv.start <= at <= iv.end}
        return [
            op
            for op in self.history.nemesis_ops
            if op.get("type") == "invoke" and int(op.get("time") or 0) in starts
        ]

    def stored_at(self, msg_id: str) -> str:
        """Which DCs' hubs hold the message entry (from the event log), and which never did."""
        if self.events is None:
            return ""
        holders = sorted({str(e.get("dc")) for e in self.events.msg_events.get(msg_id, [])
                          if e.get("kind") == "msg"})
        missing = [dc for dc in self.dc_names if dc not in holders]
        if not holders:
            return "; no message entry for it in the hubs' event logs"
        text = f"; message entry stored at: {', '.join(holders)}"
        return text + (f", never at: {', '.join(missing)}" if missing else "")

    def whereabouts(self, user: str, at: int) -> str:
        """Where `user` was logged in at time `at`, per the history's login/logout completions."""
        state = "not logged in"
        for op in self.sessions_by_user.get(user, []):
            if int(op.get("time") or 0) > at:
                break
            if op.get("type") != "ok":
                continue
            value = op.get("value") or {}
            if op.get("f") == "login":
                state = f"online in {value.get('dc')}"
            else:
                state = "logged out"
        return state

    def active_faults(self, at: int) -> list[str]:
        return [
            f"{iv.kind} {iv.label}".strip()
            for iv in self.history.intervals
            if iv.start <= at <= iv.end
        ]


def trail_html(builder: TrailBuilder, msg_id: str, problem: str, open_: bool = False) -> str:
    """One `<details>` block with the message's summary and its trail table."""
    facts = builder.history.sends.get(msg_id)
    rows, left_out = builder.rows(msg_id)
    if facts is not None:
        receipt = (
            f"first receipt by the recipient at {facts.first_receipt_time / NS:.3f}s "
            f"(via {facts.first_receipt_via})"
            if facts.first_receipt_time is not None
            else "never received by the recipient"
        )
        faults = builder.active_faults(facts.invoke_time)
        summary = (
            f"{facts.sender} → {facts.recipient} "
            f"({builder.whereabouts(facts.recipient, facts.invoke_time)} at the send), sent from "
            f"{facts.dc} at "
            f"{facts.invoke_time / NS:.3f}s, send {facts.outcome}; {receipt}; faults active at "
            f"send: {', '.join(faults) if faults else 'none'}{builder.stored_at(msg_id)}"
        )
    else:
        summary = "no send of this id in the history"
    opened = " open" if open_ else ""
    parts = [
        (f'<details class="trail {esc(problem)}"{opened}><summary><code>{esc(msg_id)}</code> '
         f'<span class="tag">{esc(problem)}</span> {esc(summary)}</summary>'),
        ('<table class="ops"><thead><tr><th>time (s)</th><th>what</th><th>process / node</th>'
         "<th>type</th><th>f</th><th>value</th></tr></thead><tbody>"),
    ]
    for row in rows:
        parts.append(
            f'<tr class="row-{esc(row.source)}"><td>{row.time / NS:.3f}</td>'
            f"<td>{esc(row.source)}</td><td>{esc(row.process)}</td><td>{esc(row.type)}</td>"
            f"<td>{esc(row.f)}</td><td><code>{esc(row.value)}</code></td></tr>"
        )
    parts.append("</tbody></table>")
    if left_out:
        parts.append(f'<p class="note">{left_out} more rows left out (the context farthest from '
                     "the send, receipts past the first 60 ops of this id).</p>")
    parts.append("</details>")
    return "".join(parts)
