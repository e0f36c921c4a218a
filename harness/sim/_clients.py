"""Simulated users for the `sim` backend: one in-process connection per user to an access core.

`SimClients` carries out the workload's ops (`login`/`logout`/`send`, and `recv` for every
deliver frame) with the rules of `harness.workload.UserClients`: a refused connect is `fail`,
a `send_err` is `fail`, a timeout (5 virtual seconds), a closed connection or a refused login is
`info` and drops the connection; the sessions and down-DC facts are the same. Frames travel as
dicts (`ClientFrame`), never as JSON. Completions are handed to a callback at the virtual time
the answer arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from imcluster._auth import user_token
from imcluster._clientcore import ClientCore, login_frame, logout_frame, send_frame

from ..history import HistoryWriter, ProcessTable
from ..ops import Op
from ..workload import DOWN_DC_MEMORY_S
from ._backend import SimCluster

__all__ = ["SimClients"]

OP_TIMEOUT_NS = 5_000_000_000
Done = Callable[[Op], None]


class _Conn:
    """One user's connection (the duck type `MemCluster` delivers to)."""

    def __init__(self, owner: SimClients, user: str, node: str, dc: str) -> None:
        self.owner = owner
        self.user = user
        self.node = node
        self.dc = dc
        self.conn: str | None = None
        self.open = False
        # the client protocol is the sans-IO core's (as for `imcluster.client.Client`); every
        # deliver frame is recorded, so no deduplication
        self.core: ClientCore[tuple[Op, Done]] = ClientCore(auto_ack=True, dedup=False)

    def write(self, frame: dict[str, Any]) -> None:
        assert self.conn is not None
        self.owner.cluster._client_frame(self.node, self.conn, frame)

    def _receive(self, frame: dict[str, Any]) -> None:
        self.owner._on_frame(self, frame)

    def _closed_by_server(self) -> None:
        if self.open:
            self.open = False
            self.owner._on_closed(self)


class SimClients:
    """Carries out client ops on a `SimCluster` and records deliveries (see module docstring)."""

    def __init__(self, cluster: SimCluster, history: HistoryWriter, processes: ProcessTable,
                 access: Mapping[str, list[str]], secret: str) -> None:
        self.cluster = cluster
        self.history = history
        self.processes = processes
        self.access = {dc: list(nodes) for dc, nodes in access.items()}
        self.secret = secret.encode()
        self._clients: dict[str, _Conn] = {}
        self.sessions: dict[str, str] = {}
        self._sessions_view = MappingProxyType(self.sessions)
        self._down_since: dict[str, int] = {}
        self._no_down_facts: Mapping[str, Any] = MappingProxyType(
            {"sessions": self._sessions_view, "down_dcs": []})
        self.acked = 0
        self.delivered = 0
        self.last_delivery = 0

    # facts for the generators -------------------------------------------------
    def facts(self) -> Mapping[str, Any]:
        if not self._down_since:  # the usual case: one dict for every poll
            return self._no_down_facts
        now = self.cluster.now_ns
        memory = int(DOWN_DC_MEMORY_S * 1e9)
        down = sorted(dc for dc, t in self._down_since.items() if now - t < memory)
        return {"sessions": self._sessions_view, "down_dcs": down}

    # ops ------------------------------------------------------------------------
    def invoke(self, op: Op, done: Done) -> None:
        """Start `op`; `done(completion)` is called once, now or at a later virtual time."""
        user = op.value["user"] if op.f != "send" else op.value["from"]
        if op.f == "login":
            self._login(op, user, done)
        elif op.f == "logout":
            client = self._clients.get(user)
            if client is not None and client.open:
                client.write(logout_frame())
            self._drop(user)
            done(op.complete("ok"))
        elif op.f == "send":
            self._send(op, user, done)
        else:
            done(op.complete("fail", error=f"unknown f {op.f!r}"))

    def _login(self, op: Op, user: str, done: Done) -> None:
        self._drop(user)
        dc = op.value["dc"]
        nodes = self.access[dc]
        node = nodes[sum(user.encode()) % len(nodes)]
        if node in self.cluster.access_down:
            self._down_since[dc] = self.cluster.now_ns
            done(op.complete("fail", error="connect: ConnectionRefusedError: [Errno 111] "
                                           f"Connect call failed ({node})"))
            return
        client = _Conn(self, user, node, dc)
        client.conn = self.cluster._open_conn(client)
        client.open = True
        self._clients[user] = client
        client.core.login = (op, done)
        client.write(login_frame(user, user_token(self.secret, user)))
        self._timeout(client, lambda: client.core.login is not None and client.core.login[0] is op,
                      lambda: self._fail_login(client, "TimeoutError: "))

    def _send(self, op: Op, user: str, done: Done) -> None:
        client = self._clients.get(user)
        if client is None:
            self.sessions.pop(user, None)
            done(op.complete("fail", error="not logged in"))
            return
        if not client.open:
            self._drop(user)
            done(op.complete("info", error="ConnectionError: not connected"))
            return
        msg_id = op.value["id"]
        sends = client.core.sends
        client.core.wait_send(msg_id, (op, done))
        client.write(send_frame(msg_id, op.value["to"], f"body of {msg_id}"))

        def pending() -> bool:
            return any(waiting is op for waiting, _ in sends.get(msg_id, ()))

        def expire() -> None:
            waiting = sends.get(msg_id, [])
            for entry in [e for e in waiting if e[0] is op]:
                waiting.remove(entry)
            if not waiting:
                sends.pop(msg_id, None)
            self._drop(user)
            done(op.complete("info", error="TimeoutError: "))

        self._timeout(client, pending, expire)

    def _timeout(self, client: _Conn, pending: Callable[[], bool],
                 expire: Callable[[], None]) -> None:
        def check() -> None:
            if pending():
                expire()
        self.cluster.at_ns(self.cluster.now_ns + OP_TIMEOUT_NS, check)

    # frames from the access node ---------------------------------------------------
    def _on_frame(self, client: _Conn, frame: dict[str, Any]) -> None:
        received = client.core.receive(frame)
        if received.delivery is not None:
            self._on_deliver(client, frame, received.ack)
        elif received.kind == "send_ok" or received.kind == "send_err":
            for op, done in received.answered:
                if not received.refused:
                    self.acked += 1
                    done(op.complete("ok"))
                else:
                    done(op.complete("fail", error=f"SendRejected: {received.code}: "
                                                   f"{received.message}"))
        elif received.kind == "login_ok" and received.answered:
            [(op, done)] = received.answered
            self._down_since.pop(client.dc, None)
            self.sessions[client.user] = client.dc
            done(op.complete("ok", dict(op.value, node=frame.get("node"),
                                        conn=frame.get("conn"))))
        elif received.kind == "error" and received.answered:
            if received.code == "unavailable":
                self._down_since[client.dc] = self.cluster.now_ns
            [(op, done)] = received.answered
            self._drop(client.user, client)
            done(op.complete("info", error=f"LoginFailed: {received.code}: {received.message}"))

    def _fail_login(self, client: _Conn, error: str) -> None:
        if client.core.login is None:
            return
        op, done = client.core.login
        client.core.login = None
        self._drop(client.user, client)
        done(op.complete("info", error=error))

    def _on_deliver(self, client: _Conn, frame: dict[str, Any], ack: dict[str, Any] | None
                    ) -> None:
        self.delivered += 1
        self.last_delivery = self.cluster.now_ns
        value = {"user": client.user, "id": frame.get("id"), "from": frame.get("from"),
                 "to": frame.get("to"), "dc": frame.get("dc"), "via": frame.get("via")}
        self.history.record(self.processes.process(client.user), "ok", "recv", value)
        if client.open and ack is not None:
            client.write(ack)

    def _on_closed(self, client: _Conn) -> None:
        """The server closed the connection (node killed, login refused): the user is offline;
        every op waiting on it ends `info`."""
        if self._clients.get(client.user) is client:
            self.sessions.pop(client.user, None)
        waiting = _take_waiting(client)
        for op, done in waiting:
            if self._clients.get(client.user) is client:
                self._drop(client.user, client)
            done(op.complete("info", error="ConnectionError: connection closed"))

    def _drop(self, user: str, only: _Conn | None = None) -> None:
        client = self._clients.get(user)
        if only is not None and client is not only:
            return
        self.sessions.pop(user, None)
        client = self._clients.pop(user, None)
        if client is not None and client.open and client.conn is not None:
            client.open = False
            self.cluster._client_close(client.node, client.conn)
            # what still waited on this connection ends as the real client's `_fail_all` does
            waiting = _take_waiting(client)
            for op, done in waiting:
                done(op.complete("info", error="ConnectionError: client closed"))

    def close_all(self) -> None:
        for user in list(self._clients):
            self._drop(user)


def _take_waiting(client: _Conn) -> list[Any]:
    """Every op still waiting on `client` (its sends, then its login), now taken from it."""
    return client.core.take_all()
