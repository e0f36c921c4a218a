"""The IM workload: simulated users as logical processes (DESIGN §2 "Client / workload").

Pure part: `UserWorkload`, a generator that picks a random free user and decides its next op from
the sessions the interpreter observed (`ctx.facts["sessions"]`: user -> DC logged in, or absent):
log in (home DC, or another with probability `roam`; DCs in `ctx.facts["down_dcs"]` are avoided:
fail-over), send (recipient homed in the user's current DC with probability `locality`; ids
`m<seed>-<n>`), or log out. `recovery_logins` logs every user in and ends when all are online.

IO part: `UserClients` runs those ops with one `imcluster.client.Client` connection per user,
records every raw deliver frame as a `recv` op, and keeps the sessions/down-DC facts.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .generators import Context, Generator, Pending, Result, fill_on
from .generators._rng import Rng
from .history import HistoryWriter, ProcessTable
from .ops import Op

LOGOUT_PROBABILITY = 0.08
"""Chance that a logged-in user's next op ends its session (sessions last ~12 ops)."""
DOWN_DC_MEMORY_S = 3.0
"""A DC where a login could not connect, or was told its hub is unavailable, is avoided this long."""


def user_names(count: int) -> list[str]:
    """`u001`, `u002`, ... (wider when there are more than 999 users)."""
    width = max(3, len(str(count)))
    return [f"u{i:0{width}d}" for i in range(1, count + 1)]


def home_dcs(users: list[str], dc_names: list[str]) -> dict[str, str]:
    """Home DC round-robin over `dc_names`."""
    return {user: dc_names[i % len(dc_names)] for i, user in enumerate(users)}


@dataclass(frozen=True)
class WorkloadSpec:
    """Who the users are, where they live, how they behave (immutable; lookups precomputed)."""

    users: tuple[str, ...]
    homes: tuple[tuple[str, str], ...]
    dc_names: tuple[str, ...]
    roam: float
    locality: float
    seed: int
    _home: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _residents: Mapping[str, tuple[str, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        home = dict(self.homes)
        residents = {dc: tuple(u for u, h in self.homes if h == dc) for dc in self.dc_names}
        object.__setattr__(self, "_home", MappingProxyType(home))
        object.__setattr__(self, "_residents", MappingProxyType(residents))

    @classmethod
    def build(cls, users: int, dc_names: list[str], roam: float, locality: float,
              seed: int) -> WorkloadSpec:
        names = user_names(users)
        return cls(tuple(names), tuple(home_dcs(names, dc_names).items()), tuple(dc_names),
                   roam, locality, seed)

    @property
    def home(self) -> Mapping[str, str]:
        return self._home

    def residents(self, dc: str) -> tuple[str, ...]:
        return self._residents.get(dc, ())


def pick_login_dc(spec: WorkloadSpec, user: str, rng: Rng,
                  down: frozenset[str] | set[str]) -> tuple[str, Rng]:
    """Home DC, or (probability `roam`) another one; skips DCs believed down (fail-over)."""
    home = spec.home[user]
    dc = home
    others = [d for d in spec.dc_names if d != home]
    roll, rng = rng.random()
    if others and roll < spec.roam:
        dc, rng = rng.choice(others)
    if dc in down:
        up = [d for d in spec.dc_names if d not in down]
        if up:
            start = spec.dc_names.index(dc)
            ordered = spec.dc_names[start:] + spec.dc_names[:start]
            dc = next(d for d in ordered if d not in down)
    return dc, rng


def pick_recipient(spec: WorkloadSpec, user: str, dc: str, rng: Rng) -> tuple[str, Rng]:
    """A user homed in `dc` with probability `locality`, else anyone; never `user` itself."""
    roll, rng = rng.random()
    pool = spec.residents(dc) if roll < spec.locality else spec.users
    if len(pool) - (user in pool) == 0:  # nobody else lives there
        pool = spec.users
    if len(pool) - (user in pool) == 0:  # a one-user run: talk to yourself
        return user, rng
    index, rng = rng.randrange(len(pool) - (user in pool))
    if user in pool and index >= pool.index(user):
        index += 1  # skip the sender
    return pool[index], rng


@dataclass(frozen=True)
class UserWorkload(Generator):
    """Main-phase client ops; infinite (wrap it in `time_limit` and `stagger`)."""

    spec: WorkloadSpec
    rng: Rng
    sent: int = 0

    @classmethod
    def create(cls, spec: WorkloadSpec) -> UserWorkload:
        return cls(spec, Rng.from_seed(spec.seed, "workload"))

    def op(self, ctx: Context) -> Result:
        free = [u for u in self.spec.users if u in ctx.free and u in ctx.workers]
        if not free:
            return Pending(), self
        sessions: Mapping[str, str] = ctx.facts.get("sessions", {})
        down = frozenset(ctx.facts.get("down_dcs", ()))
        user, rng = self.rng.choice(free)
        dc = sessions.get(user)
        if dc is None:
            dc, rng = pick_login_dc(self.spec, user, rng, down)
            template: dict[str, Any] = {"f": "login", "value": {"user": user, "dc": dc}}
            return fill_on(template, ctx, user), UserWorkload(self.spec, rng, self.sent)
        roll, rng = rng.random()
        if roll < LOGOUT_PROBABILITY:
            return (fill_on({"f": "logout", "value": {"user": user}}, ctx, user),
                    UserWorkload(self.spec, rng, self.sent))
        to, rng = pick_recipient(self.spec, user, dc, rng)
        msg_id = f"m{self.spec.seed}-{self.sent}"
        value = {"id": msg_id, "from": user, "to": to, "dc": dc}
        return fill_on({"f": "send", "value": value}, ctx, user), UserWorkload(self.spec, rng,
                                                                              self.sent + 1)


@dataclass(frozen=True)
class RecoveryLogins(Generator):
    """Log every offline user in (home DC unless it is down) until all are online."""

    spec: WorkloadSpec
    rng: Rng

    def op(self, ctx: Context) -> Result:
        sessions: Mapping[str, str] = ctx.facts.get("sessions", {})
        offline = [u for u in self.spec.users if u not in sessions]
        if not offline:
            return None
        down = frozenset(ctx.facts.get("down_dcs", ()))
        for user in offline:
            if user in ctx.free:
                home = self.spec.home[user]
                dc, rng = pick_login_dc(replace(self.spec, roam=0.0), user, self.rng, down)
                del home
                return fill_on({"f": "login", "value": {"user": user, "dc": dc}}, ctx, user), \
                    replace(self, rng=rng)
        return Pending(), self


def recovery_logins(spec: WorkloadSpec) -> Generator:
    return RecoveryLogins(spec, Rng.from_seed(spec.seed, "recovery"))


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


__all__ = ["RecoveryLogins", "UserClients", "UserWorkload", "WorkloadSpec", "home_dcs",
           "pick_login_dc", "pick_recipient", "recovery_logins", "user_names"]
