"""The workload's pure part (see `harness.workload`, which re-exports it): who the users are
(`WorkloadSpec`) and the generators of their ops (`UserWorkload`, `recovery_logins`).

A module of its own so that the compiled build (docs/accel.md) can compile it without the IO part
(`harness.workload.UserClients`, asyncio): `UserWorkload.op` is asked for every client op.
Compiled code checks annotations, so what callers may pass is typed as loosely as it is used
(`Sequence`, `AbstractSet`: a tuple of users is as good as a list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .generators import Context, Generator, Pending, Result, fill_on
from .generators._rng import Rng

LOGOUT_PROBABILITY = 0.08
"""Chance that a logged-in user's next op ends its session (sessions last ~12 ops)."""
DOWN_DC_MEMORY_S = 3.0
"""A DC where a login could not connect, or was told its hub is unavailable, is avoided this
long."""


def user_names(count: int) -> list[str]:
    """`u001`, `u002`, ... (wider when there are more than 999 users)."""
    width = max(3, len(str(count)))
    return [f"u{i:0{width}d}" for i in range(1, count + 1)]


def home_dcs(users: Sequence[str], dc_names: Sequence[str]) -> dict[str, str]:
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
    def build(cls, users: int, dc_names: Sequence[str], roam: float, locality: float,
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
                  down: AbstractSet[str]) -> tuple[str, Rng]:
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


@dataclass(frozen=True, init=False)
class UserWorkload(Generator):
    """Main-phase client ops; infinite (wrap it in `time_limit` and `stagger`)."""

    spec: WorkloadSpec
    rng: Rng
    sent: int = 0

    def __init__(self, spec: WorkloadSpec, rng: Rng, sent: int = 0) -> None:
        # written out: compiled, these stores are native (see `harness.generators._core`)
        object.__setattr__(self, "spec", spec)
        object.__setattr__(self, "rng", rng)
        object.__setattr__(self, "sent", sent)

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
