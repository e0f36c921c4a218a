"""Builders for hand-made histories with known answers (tests of the checkers only)."""

from __future__ import annotations

from typing import Any

MS = 1_000_000


class History:
    """Appends ops in order; each op is 1 ms after the previous unless `at_ms` is given."""

    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []
        self.now = 0
        self.processes: dict[str, int] = {}

    def process(self, user: str) -> int:
        return self.processes.setdefault(user, len(self.processes))

    def op(self, process: Any, kind: str, f: str, value: Any, at_ms: float | None = None,
           **extra: Any) -> dict[str, Any]:
        self.now = int(at_ms * MS) if at_ms is not None else self.now + MS
        op = {"index": len(self.ops), "time": self.now, "process": process, "type": kind,
              "f": f, "value": value, **extra}
        self.ops.append(op)
        return op

    def login(self, user: str, dc: str, node: str | None = None, conn: str | None = None,
              at_ms: float | None = None) -> None:
        process = self.process(user)
        self.op(process, "invoke", "login", {"user": user, "dc": dc}, at_ms)
        done: dict[str, Any] = {"user": user, "dc": dc}
        if node is not None:
            done["node"] = node
        if conn is not None:
            done["conn"] = conn
        self.op(process, "ok", "login", done)

    def logout(self, user: str) -> None:
        process = self.process(user)
        self.op(process, "invoke", "logout", {"user": user})
        self.op(process, "ok", "logout", {"user": user})

    def invoke_send(self, msg_id: str, sender: str, to: str, dc: str = "dc1",
                    at_ms: float | None = None) -> dict[str, Any]:
        value = {"id": msg_id, "from": sender, "to": to, "dc": dc}
        self.op(self.process(sender), "invoke", "send", value, at_ms)
        return value

    def complete_send(self, msg_id: str, sender: str, to: str, outcome: str = "ok",
                      dc: str = "dc1", at_ms: float | None = None) -> None:
        value = {"id": msg_id, "from": sender, "to": to, "dc": dc}
        extra = {"error": "timeout"} if outcome == "info" else {}
        self.op(self.process(sender), outcome, "send", value, at_ms, **extra)

    def send(self, msg_id: str, sender: str, to: str, outcome: str = "ok", dc: str = "dc1",
             at_ms: float | None = None) -> None:
        self.invoke_send(msg_id, sender, to, dc, at_ms)
        self.complete_send(msg_id, sender, to, outcome, dc)

    def recv(self, user: str, msg_id: str, sender: str, to: str | None = None, dc: str = "dc1",
             via: str = "online", at_ms: float | None = None) -> None:
        value = {"user": user, "id": msg_id, "from": sender, "to": to or user, "dc": dc,
                 "via": via}
        self.op(self.process(user), "ok", "recv", value, at_ms)

    def nemesis(self, f: str, value: Any = None, at_ms: float | None = None) -> None:
        self.op("nemesis", "invoke", f, value, at_ms)
        self.op("nemesis", "info", f, value)
