"""The IM workload: simulated users as logical processes (DESIGN §2 "Client / workload").

Pure part (`harness._workload_gen`, re-exported here): `UserWorkload`, a generator that picks a
random free user and decides its next op from the sessions the interpreter observed
(`ctx.facts["sessions"]`: user -> DC logged in, or absent): log in (home DC, or another with
probability `roam`; DCs in `ctx.facts["down_dcs"]` are avoided: fail-over), send (recipient homed
in the user's current DC with probability `locality`; ids `m<seed>-<n>`), or log out. `recovery_logins` logs every user in and ends when all are online.

IO part: `UserClients` runs those ops with one `imcluster.client.Client` connection per user,
records every raw deliver frame as a `recv` op, and keeps the sessions/down-DC facts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from ._workload_gen import (
    DOWN_DC_MEMORY_S,
    LOGOUT_PROBABILITY,
    RecoveryLogins,
    UserWorkload,
    WorkloadSpec,
    home_dcs,
    pick_login_dc,
    pick_recipient,
    recovery_logins,
    user_names,
)
from .history import HistoryWriter, ProcessTable
from .ops import Op

# ---------------------------------------------------------------- IO: one connection per user

ClientFactory = Callable[..., Any]


class UserClients:
    """Carries out client ops for users over real connections and records deliveries."""

    def __init__(self, history: HistoryWriter, processes: ProcessTable,
                 access: Mapping[str, list[tuple[str, int]]], secret: str,
                 op_timeout_s: float = 5.0, client_factory: ClientFactory | None = None) -> None:
        self.history = history
        self.processes = processes
        self.access = {dc: list(addrs) for dc, addrs in access.items()}
        self.secret = secret
        self.op_timeout_s = op_timeout_s
        self._factory = client_factory
        self._clients: dict[str, Any] = {}
        self.sessions: dict[str, str] = {}
        self._sessions_view = MappingProxyType(self.sessions)
        self._watchers: set[asyncio.Future[Any]] = set()
        self._down_since: dict[str, float] = {}
        self.acked = 0
        self.delivered = 0
        self.last_delivery = time.monotonic()

    # facts for the generators -------------------------------------------------
    def facts(self) -> dict[str, Any]:
        """Read-only views for the generators (valid during one `op` call)."""
        now = time.monotonic()
        down = sorted(dc for dc, t in self._down_since.items() if now - t < DOWN_DC_MEMORY_S)
        return {"sessions": self._sessions_view, "down_dcs": down}

    def _watch(self, user: str, client: Any) -> None:
        """When the server closes the connection (node killed), the user is offline."""
        closed = getattr(client, "closed", None)
        if closed is None:
            return
        task = asyncio.ensure_future(closed.wait())
        self._watchers.add(task)

        def done(_: Any) -> None:
            self._watchers.discard(task)
            if self._clients.get(user) is client:
                self.sessions.pop(user, None)

        task.add_done_callback(done)

    def _address(self, user: str, dc: str) -> tuple[str, int]:
        addrs = self.access[dc]
        return addrs[sum(user.encode()) % len(addrs)]

    def _new_client(self, host: str, port: int, user: str) -> Any:
        if self._factory is not None:
            return self._factory(host, port, self.secret, user, self._on_deliver)
        from imcluster.client import Client
        return Client(host, port, self.secret,
                      on_frame=lambda frame: self._on_deliver(user, frame))

    def _on_deliver(self, user: str, frame: Mapping[str, Any]) -> None:
        if frame.get("type") != "deliver":
            return
        self.delivered += 1
        self.last_delivery = time.monotonic()
        value = {"user": user, "id": frame.get("id"), "from": frame.get("from"),
                 "to": frame.get("to"), "dc": frame.get("dc"), "via": frame.get("via")}
        self.history.record(self.processes.process(user), "ok", "recv", value)

    async def _drop(self, user: str) -> None:
        self.sessions.pop(user, None)
        client = self._clients.pop(user, None)
        if client is not None:
            with contextlib.suppress(Exception):  # a broken connection is already gone
                await asyncio.wait_for(_maybe_await(client.close()), 2.0)

    async def invoke(self, op: Op) -> Op:
        """Run one client op; returns its completion (exceptions and timeouts -> `info`)."""
        user = op.value["user"] if op.f != "send" else op.value["from"]
        try:
            if op.f == "login":
                return await self._login(op, user)
            if op.f == "logout":
                client = self._clients.get(user)
                if client is not None:
                    await asyncio.wait_for(_maybe_await(client.logout()), self.op_timeout_s)
                await self._drop(user)
                return op.complete("ok")
            if op.f == "send":
                client = self._clients.get(user)
                if client is None:
                    self.sessions.pop(user, None)
                    return op.complete("fail", error="not logged in")
                await client.send(op.value["id"], op.value["to"], f"body of {op.value['id']}",
                                  timeout=self.op_timeout_s)
                self.acked += 1
                return op.complete("ok")
            return op.complete("fail", error=f"unknown f {op.f!r}")
        except Exception as exc:  # noqa: BLE001 - indeterminate: info, never fail
            rejected = type(exc).__name__ == "SendRejected"
            if op.f == "send" and rejected:
                return op.complete("fail", error=f"{type(exc).__name__}: {exc}")
            await self._drop(user)
            return op.complete("info", error=f"{type(exc).__name__}: {exc}")

    async def _login(self, op: Op, user: str) -> Op:
        await self._drop(user)
        dc = op.value["dc"]
        host, port = self._address(user, dc)
        client = self._new_client(host, port, user)
        try:
            await asyncio.wait_for(_maybe_await(client.connect()), self.op_timeout_s)
        except (ConnectionError, OSError) as exc:
            self._down_since[dc] = time.monotonic()
            # Connecting failed, so the login certainly did not happen.
            return op.complete("fail", error=f"connect: {type(exc).__name__}: {exc}")
        self._clients[user] = client
        self._watch(user, client)
        try:
            reply = await asyncio.wait_for(client.login(user), self.op_timeout_s)
        except Exception as exc:
            if getattr(exc, "code", None) == "unavailable":
                # The access node is up but its hub is not: avoid the DC like a refused connect,
                # or every user retries it at once. Still `info`: the coordinate may have landed.
                self._down_since[dc] = time.monotonic()
            raise
        self._down_since.pop(dc, None)
        self.sessions[user] = dc
        reply = dict(reply or {})
        value = dict(op.value, node=reply.get("node"), conn=reply.get("conn"))
        return op.complete("ok", value)

    async def close_all(self) -> None:
        for user in list(self._clients):
            await self._drop(user)
        for task in list(self._watchers):
            task.cancel()

    def note_connection_lost(self, user: str) -> None:
        self.sessions.pop(user, None)


async def _maybe_await(result: Any) -> Any:
    if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
        return await result
    return result


__all__ = ["DOWN_DC_MEMORY_S", "LOGOUT_PROBABILITY", "RecoveryLogins", "UserClients",
           "UserWorkload", "WorkloadSpec", "home_dcs", "pick_login_dc", "pick_recipient",
           "recovery_logins", "user_names"]
