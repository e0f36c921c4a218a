"""AccessCore: the sans-IO state machine of an access node (client sessions, login, send, delivery).

Clients speak the NDJSON protocol of DESIGN §1; the core does the framing (raw bytes in) and talks
to its DC's hub with the frames of docs/architecture.md (`coord`, `route`, `ack`, `sync`).
Limits (`AccessConfig`): connections per node, a login timeout and an idle timeout, checked by one
`sweep` timer; a connection drops a second offer of a message it already got (the hub re-offers
what may have been lost) and answers it with the ack again if the client acked it.
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
    SetTimer,
    TimerFired,
)
from ._hlc import elapsed_after
from ._wire import FrameTooLarge, LineDecoder, WireError, parse_frame, validate_client_frame

COUNTER_NAMES = ("connections", "logins", "login_failures", "sends", "send_ok", "send_err",
                 "deliveries", "client_errors", "acks", "refused_connections", "login_timeouts",
                 "idle_timeouts", "duplicate_offers", "acks_resent")
SWEEP_TIMER = "sweep"
SWEEP_INTERVAL_MS = 1000.0
MAX_DELIVERED_PER_CONN = 1024  # ids remembered per connection to drop repeated offers


@dataclass
class _Connection:
    decoder: LineDecoder
    user: str | None = None           # set once the hub confirmed the login
    login_pending: str | None = None  # user waiting for coord_ok
    closed: bool = False
    inflight: set[str] = field(default_factory=set)
    login_since_ns: int = 0  # opened (or logged out) then: the login timeout counts from here
    active_ns: int = 0  # bytes last arrived from the client
    # (from, id) -> acked by the client: ids are the clients', so two senders may share one
    delivered: dict[tuple[str, str], bool] = field(default_factory=dict)


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
        self._sweep_armed = False
        # timeouts are measured on the elapsed-time clock (`elapsed_after`), `sent_at` is stamped
        # with the wall clock: a clock set back by 30 s used to stall the login and idle timeouts
        self._wall_ns = 0
        self._last_wall_ns: int | None = None
        self._elapsed_ns = 0
        timeouts = [config.login_timeout_ms / 2, config.idle_timeout_ms / 2]
        self._sweep_ms = min([SWEEP_INTERVAL_MS, *(t for t in timeouts if t > 0)])

    def sessions(self) -> dict[str, str]:
        """Logged-in users -> their connection (the latest one if a user has several)."""
        return {c.user: conn for conn, c in sorted(self.conns.items()) if c.user is not None}

    def status(self) -> dict[str, Any]:
        """What the admin `status` answer holds from the core (drivers add their own counters)."""
        return {"node": self.node, "dc": self.dc, "role": "access", "hub_connected": self.hub_up,
                "sessions": self.sessions(), "counters": dict(self.counters)}

    def handle(self, event: object, now_ns: int) -> list[Effect]:
        out: list[Effect] = []
        wall_ns = now_ns
        now_ns = self._elapsed_ns = elapsed_after(self._elapsed_ns, self._last_wall_ns, wall_ns)
        self._last_wall_ns = self._wall_ns = wall_ns
        if isinstance(event, ClientData):
            self._on_data(event.conn, event.data, now_ns, out)
        elif isinstance(event, ClientFrame):
            self._on_parsed(event.conn, event.frame, now_ns, out)
        elif isinstance(event, ClientOpened):
            self._on_opened(event.conn, now_ns, out)
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
        elif isinstance(event, TimerFired) and event.name == SWEEP_TIMER:
            self._sweep(now_ns, out)
        return out

    # ------------------------------------------------------------ limits

    def _on_opened(self, conn: str, now_ns: int, out: list[Effect]) -> None:
        self.conns[conn] = _Connection(LineDecoder(self.config.max_frame), login_since_ns=now_ns,
                                       active_ns=now_ns)
        self.counters["connections"] += 1
        if len(self.conns) > self.config.max_connections:
            self.counters["refused_connections"] += 1
            self._error(conn, "too_many_connections",
                        f"this access node holds at most {self.config.max_connections} "
                        "connections", out)
            self._close(conn, out)
            return
        self._arm_sweep(out)

    def _arm_sweep(self, out: list[Effect]) -> None:
        if not self._sweep_armed:
            self._sweep_armed = True
            out.append(SetTimer(SWEEP_TIMER, self._sweep_ms))

    def _sweep(self, now_ns: int, out: list[Effect]) -> None:
        """Close connections not logged in within the login timeout, and logged-in ones silent
        for the idle timeout; re-arm while connections remain."""
        self._sweep_armed = False
        login_deadline = now_ns - round(self.config.login_timeout_ms * 1_000_000)
        idle_deadline = now_ns - round(self.config.idle_timeout_ms * 1_000_000)
        for conn, state in sorted(self.conns.items()):
            if state.closed:
                continue
            if state.user is None and state.login_since_ns <= login_deadline:
                self.counters["login_timeouts"] += 1
                self._error(conn, "login_timeout",
                            f"no login within {self.config.login_timeout_ms / 1000:g} s", out)
                self._close(conn, out)
            elif (state.user is not None and self.config.idle_timeout_ms
                  and state.active_ns <= idle_deadline):
                self.counters["idle_timeouts"] += 1
                self._error(conn, "idle_timeout",
                            f"nothing received for {self.config.idle_timeout_ms / 1000:g} s", out)
                self._close(conn, out)
        if any(not state.closed for state in self.conns.values()):
            self._arm_sweep(out)

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
        state.active_ns = now_ns
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
            else:
                for key in state.delivered:
                    if key[1] == frame["id"]:
                        state.delivered[key] = True  # sent again if the hub offers it again
                if self.hub_up:
                    self.counters["acks"] += 1
                    out.append(SendHub({"type": "ack", "user": state.user, "id": frame["id"]}))
        elif kind == "logout" and state.user is not None:
            user, state.user = state.user, None
            state.delivered.clear()
            state.login_since_ns = now_ns
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
                               "body": frame["body"], "sent_at": self._wall_ns // 1_000_000}
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
        msg_id = msg.get("id")
        if isinstance(msg_id, str):
            key = (str(msg.get("from")), msg_id)
            acked = state.delivered.get(key)
            if acked is not None:  # offered again: the client has it already
                if acked:
                    self.counters["acks_resent"] += 1  # the hub missed the client's ack
                    out.append(SendHub({"type": "ack", "user": user, "id": msg_id}))
                else:
                    self.counters["duplicate_offers"] += 1
                return
            state.delivered[key] = False
            if len(state.delivered) > MAX_DELIVERED_PER_CONN:
                del state.delivered[next(iter(state.delivered))]
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
