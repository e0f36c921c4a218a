"""Jepsen's nemesis protocol in Python: `Nemesis`, `NemesisContext`, schedules of nemesis ops.

A nemesis is set up once, then handed ops (`invoke(ctx, op) -> completion`, synchronous: the runner
calls it from a worker thread), torn down at the end. `schedule(ctx)` is the main-phase `Schedule`
(alternating start/stop every `nemesis_interval` seconds, values drawn from a seeded rng),
`final_schedule(ctx)` the ops that heal; `generator(ctx)` / `final_generator(ctx)` play them as
harness generators (`harness.generators` protocol) on the nemesis thread.
`invoke` never raises into the runner: an exception becomes an `info` completion with `error`.

Ops are plain mappings (`{"process": "nemesis", "type": "invoke", "f", "value", ...}`) or any
object with those attributes (the harness's `Op` dataclass); completions keep the input's shape.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import itertools
import random
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from .._bridge import run_sync
from ..generators import SEC, Context, Generator, Pending, Result, fill, on_nemesis

if TYPE_CHECKING:
    from ..backends._base import ClusterSpec
    from ..seams import Backend, Wan

__all__ = [
    "NEMESIS_PROCESS",
    "Nemesis",
    "NemesisContext",
    "NoopNemesis",
    "Schedule",
    "ScheduleGenerator",
    "ScheduledOp",
    "alternating_schedule",
    "completion",
    "op_field",
    "schedule_generator",
]

NEMESIS_PROCESS = "nemesis"
T = TypeVar("T")


@dataclass
class NemesisContext:
    """What a nemesis may touch: the backend, its WAN, the DC names, the options, a seeded rng.

    `options` holds the run's options under their `test.json` names (`nemesis_interval` in
    seconds, `partition_style`, ...). `loop` is the runner's event loop when there is one: async
    backend calls (`set_clock`, `admin_status`) are then run on it from the nemesis worker thread.
    """

    backend: Backend
    dc_names: list[str]
    rng: random.Random
    options: Mapping[str, Any] = field(default_factory=dict)
    wan: Wan | None = None
    spec: ClusterSpec | None = None
    loop: asyncio.AbstractEventLoop | None = None
    call_timeout_s: float = 30.0

    def __post_init__(self) -> None:
        if self.wan is None and self.backend is not None:
            try:
                self.wan = getattr(self.backend, "wan", None)
            except Exception:  # noqa: BLE001 - a backend not started yet has no WAN
                self.wan = None

    @property
    def interval_s(self) -> float:
        """Seconds between a nemesis's start and stop ops (`--nemesis-interval`, default 5)."""
        return float(self.options.get("nemesis_interval", 5))

    @property
    def partition_style(self) -> str:
        """`blackhole` (default) or `refuse` (`--partition-style`)."""
        return str(self.options.get("partition_style", "blackhole"))

    @classmethod
    def for_run(cls, backend: Backend, seed: int, options: Mapping[str, Any] | None = None,
                loop: asyncio.AbstractEventLoop | None = None, spec: ClusterSpec | None = None
                ) -> NemesisContext:
        """The context of a run: DC names from the backend's spec, rng seeded from `seed`."""
        spec = spec if spec is not None else getattr(backend, "spec", None)
        dc_names = list(getattr(spec, "dc_names", None) or sorted({n.dc for n in backend.nodes()}))
        rng = random.Random(derive_seed(seed, "nemesis"))
        return cls(backend=backend, dc_names=dc_names, rng=rng, options=dict(options or {}),
                   spec=spec, loop=loop)

    def derive_rng(self) -> random.Random:
        """A fresh rng seeded from the context's rng (same run seed -> same sequence)."""
        return random.Random(self.rng.getrandbits(64))

    def run_async(self, awaitable: Awaitable[T]) -> T:
        """Run a coroutine from synchronous nemesis code and return its result.

        On the runner's loop when one is given and we are in another thread; otherwise on a
        private loop (in a helper thread if this thread already runs a loop): `run_sync`.
        """
        return run_sync(awaitable, self.loop, self.call_timeout_s)


def derive_seed(seed: int, label: str) -> int:
    """A 64-bit seed for the stream `label` of the run seeded `seed` (BLAKE2, stable)."""
    digest = hashlib.blake2b(f"{seed}|{label}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# ------------------------------------------------------------------ ops


def op_field(op: Any, name: str, default: Any = None) -> Any:
    """Read field `name` of an op given as a mapping or as an object with attributes."""
    if isinstance(op, Mapping):
        return op.get(name, default)
    return getattr(op, name, default)


def completion(op: Any, value: Any, error: str | None = None) -> Any:
    """The `info` completion of nemesis op `op` with `value` (and `error`), in the op's own shape."""
    changes: dict[str, Any] = {"type": "info", "value": value}
    if error is not None:
        changes["error"] = error
    if isinstance(op, Mapping):
        result = dict(op)
        result.update(changes)
        if error is None:
            result.pop("error", None)
        return result
    if dataclasses.is_dataclass(op) and not isinstance(op, type):
        names = {f.name for f in dataclasses.fields(op)}
        if "error" in names:
            changes["error"] = error
        return dataclasses.replace(op, **{k: v for k, v in changes.items() if k in names})
    result = {name: op_field(op, name) for name in ("index", "time", "process", "f")}
    result.update(changes)
    return result


@dataclass(frozen=True)
class ScheduledOp:
    """A nemesis op due `at_s` seconds after its phase starts (the runner waits, then invokes)."""

    at_s: float
    f: str
    value: Mapping[str, Any]

    def op(self) -> dict[str, Any]:
        """The invoke op (without `index`/`time`, which the history assigns)."""
        return {"process": NEMESIS_PROCESS, "type": "invoke", "f": self.f, "value": dict(self.value)}


class Schedule(Iterable[ScheduledOp]):
    """A re-iterable, possibly infinite, time-ordered sequence of `ScheduledOp`s.

    Built from a factory whose randomness comes from a seed captured at construction, so every
    iteration yields the same ops: the schedule is a pure value, as Jepsen's generators are. The
    ops generated so far are memoised (`step(i)` is cheap however often a generator is polled).
    """

    def __init__(self, factory: Callable[[], Iterable[ScheduledOp]]) -> None:
        self._factory = factory
        self._made: list[ScheduledOp] = []
        self._source: Iterator[ScheduledOp] | None = None
        self._exhausted = False
        self._lock = threading.Lock()

    def step(self, position: int) -> ScheduledOp | None:
        """The op at `position` (0-based), or None past the end."""
        with self._lock:
            while len(self._made) <= position and not self._exhausted:
                if self._source is None:
                    self._source = iter(self._factory())
                try:
                    self._made.append(next(self._source))
                except StopIteration:
                    self._exhausted = True
            return self._made[position] if position < len(self._made) else None

    def __iter__(self) -> Iterator[ScheduledOp]:
        for position in itertools.count():
            step = self.step(position)
            if step is None:
                return
            yield step

    def until(self, limit_s: float) -> list[ScheduledOp]:
        """The ops due before `limit_s` seconds (finite even for an infinite schedule)."""
        return list(itertools.takewhile(lambda step: step.at_s < limit_s, self))

    @classmethod
    def of(cls, steps: Iterable[ScheduledOp]) -> Schedule:
        frozen = tuple(steps)
        return cls(lambda: frozen)


@dataclass(frozen=True)
class ScheduleGenerator(Generator):
    """A `Schedule` as a harness generator: op `i` is invoked on the nemesis thread once
    `at_s` seconds have passed since the generator was first asked (later if the nemesis is busy).
    """

    schedule: Schedule
    position: int = 0
    started_at: int | None = None

    def op(self, ctx: Context) -> Result:
        started_at = ctx.time if self.started_at is None else self.started_at
        step = self.schedule.step(self.position)
        if step is None:
            return None
        due = started_at + int(step.at_s * SEC)
        if ctx.time < due:  # polled often: no new object once started
            return Pending(due, time_only=True), (self if started_at == self.started_at
                                                  else replace(self, started_at=started_at))
        thread = NEMESIS_PROCESS if NEMESIS_PROCESS in ctx.free else None
        invocation = fill({"f": step.f, "value": dict(step.value)}, ctx, thread) if thread else None
        if invocation is None:
            return Pending(), replace(self, started_at=started_at)
        return invocation, replace(self, position=self.position + 1, started_at=started_at)


def schedule_generator(schedule: Schedule) -> Generator:
    """The harness generator (routed to the nemesis thread) that plays `schedule`."""
    return on_nemesis(ScheduleGenerator(schedule))


def alternating_schedule(
    start: Any, stop: Any, interval_s: float, seed: int, offset_s: float = 0.0
) -> Schedule:
    """Start at `offset + interval`, stop `interval` later, start again ... forever.

    `start(rng) -> (f, value)` and `stop(rng) -> (f, value)` build each op from an rng seeded
    with `seed`, so the same seed gives the same schedule.
    """
    if interval_s <= 0:
        raise ValueError("nemesis interval must be positive")

    def steps() -> Iterator[ScheduledOp]:
        rng = random.Random(seed)
        for cycle in itertools.count():
            base = offset_s + 2 * cycle * interval_s
            f, value = start(rng)
            yield ScheduledOp(base + interval_s, f, value)
            f, value = stop(rng)
            yield ScheduledOp(base + 2 * interval_s, f, value)

    return Schedule(steps)


# ------------------------------------------------------------------ the protocol


class Nemesis:
    """Base class of every nemesis (Jepsen's `Nemesis` + `Reflection` protocols).

    Subclasses set `name`, `help` (one line), `fs`, `start_f`/`stop_f` (and `fault_kind`), and
    implement `start_value(ctx, rng)` (the value of a start op, e.g. the grudge) and
    `apply(ctx, f, value)` (do the fault or heal; return the value to record). Everything else
    has a default.
    """

    name: ClassVar[str] = ""
    help: ClassVar[str] = ""
    fs: ClassVar[frozenset[str]] = frozenset()
    start_f: ClassVar[str] = ""
    stop_f: ClassVar[str] = ""
    fault_kind: ClassVar[str] = ""
    """The name of the fault `start_f` opens and `stop_f` closes (default: `start_f` without a
    `start-` prefix, so nemeses sharing ops share the fault): its band in the report, its lane in
    the timeline, its name in the live progress."""

    @property
    def fault_ops(self) -> Mapping[str, tuple[str, str]]:
        """The faults this nemesis makes: kind -> (the op that opens one, the op that closes it).

        The runner records them in `test.json` (`fault_ops`); the checkers, the report and the
        live progress read them from there. Default: `{fault_kind: (start_f, stop_f)}`, nothing
        without a `start_f`. A nemesis that makes several kinds of fault overrides this (a class
        attribute `fault_ops = {...}` will do). Ops that two nemeses share (`kill` and `start`)
        must have the same kind in both (`compose` refuses them otherwise).
        """
        if not (self.start_f and self.stop_f):
            return {}
        return {self.fault_kind or self.start_f.removeprefix("start-"):
                (self.start_f, self.stop_f)}

    def check_cluster(self, ctx: NemesisContext) -> None:
        """Refuse a cluster this nemesis cannot fault, before anything starts: raise `UsageError`
        (exit 2) saying why. The runner calls it before it creates the run directory or starts
        any process, so `ctx` has the options, the `ClusterSpec` (`ctx.spec`), the DC names and
        the backend **not yet started** (what its class can do; no nodes, no WAN). Default:
        accept. `setup` runs later, on the started cluster."""

    def setup(self, ctx: NemesisContext) -> None:
        """Prepare (check the backend can do this fault). Raise `UsageError`/`SetupError` here."""

    def teardown(self, ctx: NemesisContext) -> None:
        """Release what setup took. Healing is the final generator's job, not teardown's."""

    def invoke(self, ctx: NemesisContext, op: Any) -> Any:
        """Carry out `op`; never raises: an exception becomes an `info` completion with `error`."""
        f = op_field(op, "f")
        value = op_field(op, "value")
        try:
            if f not in self.fs:
                raise ValueError(f"nemesis {self.name!r} does not handle f={f!r}")
            result = self.apply(ctx, str(f), dict(value) if isinstance(value, Mapping) else {})
        except Exception as exc:  # noqa: BLE001 - the runner must never see a nemesis exception
            recorded = dict(value) if isinstance(value, Mapping) else value
            return completion(op, recorded, error=f"{type(exc).__name__}: {exc}")
        return completion(op, result)

    def apply(self, ctx: NemesisContext, f: str, value: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def start_value(self, ctx: NemesisContext, rng: random.Random) -> dict[str, Any]:
        """The value of the next start op (chosen in the schedule, so it is seeded and replayable)."""
        return {}

    def stop_value(self, ctx: NemesisContext, rng: random.Random) -> dict[str, Any]:
        return {}

    def coordinate(self, ctx: NemesisContext, value: dict[str, Any],
                   active: Mapping[str, Mapping[str, Any]], rng: random.Random) -> dict[str, Any]:
        """Refine this nemesis's start value in a composition (Jepsen's targeted faults).

        `active` maps the name of every other composed nemesis whose fault holds at that moment
        of the schedule to its start value (e.g. a partition's `grudge`). Called while the
        composed schedule is built, so the refined value is seeded and recorded in the invoke
        op. Default: the value unchanged.
        """
        return value

    def _tagged(self, value: Mapping[str, Any]) -> dict[str, Any]:
        return {"nemesis": self.name, **value}

    def generator(self, ctx: NemesisContext) -> Generator:
        """Main-phase generator (harness protocol, nemesis thread) playing `schedule(ctx)`."""
        return schedule_generator(self.schedule(ctx))

    def final_generator(self, ctx: NemesisContext) -> Generator:
        """Heal-phase generator playing `final_schedule(ctx)`."""
        return schedule_generator(self.final_schedule(ctx))

    def schedule(self, ctx: NemesisContext, offset_s: float = 0.0) -> Schedule:
        """Main phase: `start_f` after one interval, `stop_f` one interval later, and so on."""
        if not self.start_f:
            return Schedule.of(())
        seed = ctx.rng.getrandbits(64)
        return alternating_schedule(
            lambda rng: (self.start_f, self._tagged(self.start_value(ctx, rng))),
            lambda rng: (self.stop_f, self._tagged(self.stop_value(ctx, rng))),
            ctx.interval_s, seed, offset_s,
        )

    def final_schedule(self, ctx: NemesisContext) -> Schedule:
        """Heal phase: one stop op (stops are idempotent: heal whatever is still broken)."""
        if not self.stop_f:
            return Schedule.of(())
        return Schedule.of([ScheduledOp(0.0, self.stop_f, self._tagged({"final": True}))])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class NoopNemesis(Nemesis):
    """Does nothing: a baseline run with no faults."""

    name = "noop"
    help = "no faults (a baseline run)"
    fs = frozenset()

    def apply(self, ctx: NemesisContext, f: str, value: dict[str, Any]) -> dict[str, Any]:
        return value
