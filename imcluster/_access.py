"""AccessCore: the sans-IO state machine of an access node (client sessions, login, send, delivery).

Clients speak the NDJSON protocol of DESIGN §1; the core does the framing (raw bytes in) and talks
to its DC's hub with the frames of docs/architecture.md (`coord`, `route`, `ack`, `sync`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._auth import check_token
from ._config import AccessConfig
from ._events import (
    ClientClosed,
    ClientData,
    ClientFrame,
    ClientOpened,
    CloseClient,
    Effect,
    Frame,
    HubConnected,
    HubDisconnected,
    HubFrameIn,
    SendClient,
    SendHub,
    TimerFired,
)
from ._wire import FrameTooLarge, LineDecoder, WireError, parse_frame, validate_client_frame

COUNTER_NAMES = ("connections", "logins", "login_failures", "sends", "send_ok", "send_err",
                 "deliveries", "client_errors", "acks")


@dataclass
class _Connection:
    decoder: LineDecoder
    user: str | None = None           # set once the hub confirmed the login
    login_pending: str | None = None  # user waiting for coord_ok
    closed: bool = False
    inflight: set[str] = field(default_factory=set)


class AccessCore:
    """One access node. Feed it events with `handle(event, now_ns)` and carry out the effects."""

    def __init__(self, config: AccessConfig) -> None:
        self.config = config
        self.dc = config.dc
        self.node = config.node
        self.hub_up = False
        self.conns: dict[str, _Connection] = {}
        self.inflight: dict[str, set[str]] = {}  # message id -> conns waiting for route_ok
        self.counters: dict[str, int] = {name: 0 for name in COUNTER_NAMES}

    def sessions(self) -> dict[str, str]:
        """Logged-in users -> their connection (the latest one if a user has several)."""
        return {c.user: conn for conn, c in sorted(self.conns.items()) if c.user is not None}

    def status(self) -> dict[str, Any]:
        """What the admin `status` answer holds from the core (drivers add their own counters)."""
        return {"node": self.node, "dc": self.dc, "role": "access", "hub_connected": self.hub_up,
                "sessions": self.sessions(), "counters": dict(self.counters)}

    def handle(self, event: object, now_ns: int) -> list[Effect]:
        out: list[Effect] = []
        if isinstance(event, ClientData):
            self._on_data(event.conn, event.data, now_ns, out)
        elif isinstance(event, ClientFrame):
            self._on_parsed(event.conn, event.frame, now_ns, out)
        elif isinstance(event, ClientOpened):
            self.conns[event.conn] = _Connection(LineDecoder(self.config.max_frame))
            self.counters["connections"] += 1
        elif isinstance(event, ClientClosed):
            self._on_closed(event.conn, out)
        elif isinstance(event, HubFrameIn):
            self._on_hub_frame(event.frame, out)
        elif isinstance(event, HubConnected):
            self.hub_up = True
            conns = [{"user": c.user, "conn": conn} for conn, c in sorted(self.conns.items())
                     if c.user is not None and not c.closed]
            out.append(SendHub({"type": "sync", "conns": conns}))
        elif isinstance(event, HubDisconnected):
            self._on_hub_down(out)
        elif isinstance(event, TimerFired):
            pass
        return out

    # ------------------------------------------------------------ client side

    def _error(self, conn: str, code: str, message: str, out: list[Effect]) -> None:
        self.counters["client_errors"] += 1
        out.append(SendClient(conn, {"type": "error", "code": code, "message": message}))

    def _close(self, conn: str, out: list[Effect]) -> None:
        state = self.conns.get(conn)
        if state is not None and not state.closed:
            state.closed = True
            out.append(CloseClient(conn))

    def _on_data(self, conn: str, data: bytes, now_ns: int, out: list[Effect]) -> None:
        state = self.conns.get(conn)
        if state is None or state.closed:
            return
        for item in state.decoder.feed(data):
            if isinstance(item, FrameTooLarge):
                self._error(conn, "frame_too_large",
                            f"a frame may have at most {item.limit} bytes", out)
                self._close(conn, out)
                return
            if not item.strip():
                continue  # blank lines are keep-alives
            try:
                frame = validate_client_frame(parse_frame(item))
            except WireError as exc:
                self._error(conn, exc.code, exc.message, out)
                continue
            self._on_frame(conn, state, frame, now_ns, out)
            if state.closed:
                return

    def _on_parsed(self, conn: str, frame: Frame, now_ns: int, out: list[Effect]) -> None:
        """A frame an in-process client handed over already parsed: the same checks as a line."""
        state = self.conns.get(conn)
        if state is None or state.closed:
            return
        try:
            frame = validate_client_frame(frame)
        except WireError as exc:
            self._error(conn, exc.code, exc.message, out)
            return
        self._on_frame(conn, state, frame, now_ns, out)

    def _on_frame(self, conn: str, state: _Connection, frame: Frame, now_ns: int,
                  out: list[Effect]) -> None:
        kind = frame["type"]
        if kind == "ping":
            out.append(SendClient(conn, {"type": "pong"}))
        elif kind == "login":
            self._on_login(conn, state, frame, out)
        elif kind == "send":
            self._on_send(conn, state, frame, now_ns, out)
        elif kind == "ack":
            if state.user is None:
                self._error(conn, "unauthorized", "log in first", out)
            elif self.hub_up:
                self.counters["acks"] += 1
                out.append(SendHub({"type": "ack", "user": state.user, "id": frame["id"]}))
        elif kind == "logout" and state.user is not None:
            user, state.user = state.user, None
            if self.hub_up:
                out.append(SendHub({"type": "coord", "user": user, "conn": conn,
                                    "online": False}))

    def _on_login(self, conn: str, state: _Connection, frame: Frame, out: list[Effect]) -> None:
        user = frame["user"]
        if state.user is not None or state.login_pending is not None:
            if state.user == user:
                out.append(SendClient(conn, self._login_ok(user, conn)))
            else:
                self._error(conn, "already_logged_in", "log out first", out)
            return
        if not check_token(self.config.secret, user, frame["token"]):
            self.counters["login_failures"] += 1
            self._error(conn, "unauthorized", "bad token", out)
            self._close(conn, out)
            return
        if not self.hub_up:
            self.counters["login_failures"] += 1
            self._error(conn, "unavailable", "the hub of this DC is unreachable", out)
            self._close(conn, out)
            return
        state.login_pending = user
        out.append(SendHub({"type": "coord", "user": user, "conn": conn, "online": True}))

    def _login_ok(self, user: str, conn: str) -> Frame:
        return {"type": "login_ok", "user": user, "dc": self.dc, "node": self.node, "conn": conn}

    def _on_send(self, conn: str, state: _Connection, frame: Frame, now_ns: int,
                 out: list[Effect]) -> None:
        if state.user is None:
            self._error(conn, "unauthorized", "log in first", out)
            return
        msg_id = frame["id"]
        self.counters["sends"] += 1
        if not self.hub_up:
            self.counters["send_err"] += 1
            out.append(SendClient(conn, {"type": "send_err", "id": msg_id, "code": "unavailable",
                                         "message": "the hub of this DC is unreachable"}))
            return
        self.inflight.setdefault(msg_id, set()).add(conn)
        state.inflight.add(msg_id)
        msg: dict[str, Any] = {"id": msg_id, "from": state.user, "to": frame["to"],
                               "body": frame["body"], "sent_at": now_ns // 1_000_000}
        out.append(SendHub({"type": "route", "msg": msg}))

    def _on_closed(self, conn: str, out: list[Effect]) -> None:
        state = self.conns.pop(conn, None)
        if state is None:
            return
        for msg_id in state.inflight:
            waiting = self.inflight.get(msg_id)
            if waiting is not None:
                waiting.discard(conn)
                if not waiting:
                    del self.inflight[msg_id]
        user = state.user or state.login_pending
        if user is not None and self.hub_up:
            out.append(SendHub({"type": "coord", "user": user, "conn": conn, "online": False}))

    # ------------------------------------------------------------ hub side

    def _on_hub_frame(self, frame: Frame, out: list[Effect]) -> None:
        kind = frame.get("type")
        if kind == "coord_ok":
            conn, user = frame.get("conn"), frame.get("user")
            state = self.conns.get(conn) if isinstance(conn, str) else None
            if (state is not None and isinstance(conn, str) and isinstance(user, str)
                    and state.login_pending == user and not state.closed):
                state.login_pending, state.user = None, user
                self.counters["logins"] += 1
                out.append(SendClient(conn, self._login_ok(user, conn)))
        elif kind in ("route_ok", "route_err"):
            msg_id = frame.get("id")
            if not isinstance(msg_id, str):
                return
            for conn in sorted(self.inflight.pop(msg_id, ())):
                state = self.conns.get(conn)
                if state is None:
                    continue
                state.inflight.discard(msg_id)
                if kind == "route_ok":
                    self.counters["send_ok"] += 1
                    out.append(SendClient(conn, {"type": "send_ok", "id": msg_id}))
                else:
                    self.counters["send_err"] += 1
                    out.append(SendClient(conn, {"type": "send_err", "id": msg_id,
                                                 "code": str(frame.get("code", "rejected")),
                                                 "message": str(frame.get("message", ""))}))
        elif kind == "deliver":
            self._on_deliver(frame, out)

    def _on_deliver(self, frame: Frame, out: list[Effect]) -> None:
        conn, user, msg = frame.get("conn"), frame.get("user"), frame.get("msg")
        state = self.conns.get(conn) if isinstance(conn, str) else None
        if (state is None or not isinstance(conn, str) or state.closed or state.user != user
                or not isinstance(msg, dict)):
            return
        self.counters["deliveries"] += 1
        out.append(SendClient(conn, {
            "type": "deliver", "id": msg.get("id"), "from": msg.get("from"), "to": msg.get("to"),
            "body": msg.get("body"), "sent_at": msg.get("sent_at"),
            "via": frame.get("via", "offline"), "dc": self.dc}))

    def _on_hub_down(self, out: list[Effect]) -> None:
        self.hub_up = False
        # in-flight routes may have been persisted: no send_err, the clients time out
        self.inflight.clear()
        for conn, state in sorted(self.conns.items()):
            state.inflight.clear()
            if state.login_pending is not None and not state.closed:
                state.login_pending = None
                self._error(conn, "unavailable", "the hub of this DC is unreachable", out)
                self._close(conn, out)


__all__ = ["COUNTER_NAMES", "AccessCore"]
