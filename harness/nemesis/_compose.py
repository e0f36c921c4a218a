"""Combining nemeses: `compose([...])` routes ops by `f`; `validate(n)` checks the op protocol.

Routing: each op goes to the one child whose `fs` contains its `f`. Two children may share an `f`
(`kill` and `dc-outage` both use `kill`/`start`); the op's `value["nemesis"]` (every schedule tags
its ops with the nemesis name) then picks the child, and an untagged shared op goes to all of them
(a heal with no name heals everything). Schedules are merged in time order, each child's offset by
a fraction of the interval so that faults are staggered, and each start op passes through its
child's `coordinate` with the faults the other children hold at that moment (targeted faults:
a `kill` during a partition hits the hub of a DC the partition cuts off).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import UsageError
from ._base import (
    NEMESIS_PROCESS,
    Nemesis,
    NemesisContext,
    Schedule,
    ScheduledOp,
    completion,
    op_field,
)

__all__ = ["ComposedNemesis", "ValidatingNemesis", "WrappingNemesis", "compose", "merge_fault_ops",
           "validate"]


class ComposedNemesis(Nemesis):
    """Several nemeses acting as one; ops routed to children by `f` (and `value["nemesis"]`)."""

    help = "several nemeses at once"

    def __init__(self, children: Sequence[Nemesis]) -> None:
        if not children:
            raise ValueError("compose needs at least one nemesis")
        self.children = list(children)
        self.name = ",".join(child.name for child in self.children)  # type: ignore[misc]
        self.fs = frozenset().union(*(child.fs for child in self.children))  # type: ignore[misc]
        self._fault_ops = merge_fault_ops(self.children)

    @property
    def fault_ops(self) -> Mapping[str, tuple[str, str]]:
        """Every child's fault ops (one kind per op: `merge_fault_ops`)."""
        return self._fault_ops

    def route(self, op: Any) -> list[Nemesis]:
        """The children that handle `op` (empty when none does)."""
        f = op_field(op, "f")
        handlers = [child for child in self.children if f in child.fs]
        if len(handlers) > 1:
            value = op_field(op, "value")
            tag = value.get("nemesis") if isinstance(value, Mapping) else None
            if tag is not None:
                handlers = [child for child in handlers if child.name == tag]
        return handlers

    def check_cluster(self, ctx: NemesisContext) -> None:
        for child in self.children:
            child.check_cluster(ctx)

    def setup(self, ctx: NemesisContext) -> None:
        for child in self.children:
            child.setup(ctx)

    def teardown(self, ctx: NemesisContext) -> None:
        errors: list[BaseException] = []
        for child in self.children:
            try:
                child.teardown(ctx)
            except Exception as exc:  # noqa: BLE001 - tear every child down, then re-raise
                errors.append(exc)
        if errors:
            raise errors[0]

    def invoke(self, ctx: NemesisContext, op: Any) -> Any:
        handlers = self.route(op)
        if not handlers:
            return completion(op, op_field(op, "value"),
                              error=f"no nemesis in {self.name!r} handles f={op_field(op, 'f')!r}")
        if len(handlers) == 1:
            return handlers[0].invoke(ctx, op)
        results = [child.invoke(ctx, op) for child in handlers]
        value = {child.name: op_field(result, "value") for child, result in zip(handlers, results)}
        errors = [str(op_field(r, "error")) for r in results if op_field(r, "error")]
        return completion(op, value, error="; ".join(errors) if errors else None)

    def schedule(self, ctx: NemesisContext, offset_s: float = 0.0) -> Schedule:
        count = len(self.children)
        schedules = [child.schedule(ctx, offset_s + i * ctx.interval_s / count)
                     for i, child in enumerate(self.children)]
        seed = ctx.rng.getrandbits(64)  # after the children's: their schedules stay the same

        def merged() -> Iterator[ScheduledOp]:
            steps = heapq.merge(*(iter(s) for s in schedules), key=lambda step: step.at_s)
            return self._coordinated(ctx, steps, random.Random(seed))

        return Schedule(merged)

    def _coordinated(self, ctx: NemesisContext, steps: Iterable[ScheduledOp],
                     rng: random.Random) -> Iterator[ScheduledOp]:
        """Pass each start op through its child's `coordinate` with the faults active then."""
        by_name = {child.name: child for child in self.children}
        active: dict[str, Mapping[str, Any]] = {}
        for step in steps:
            owner = by_name.get(str(step.value.get("nemesis")))
            if owner is not None and step.f == owner.start_f:
                others = {name: value for name, value in active.items() if name != owner.name}
                value = owner.coordinate(ctx, dict(step.value), others, rng)
                if value != dict(step.value):
                    step = ScheduledOp(step.at_s, step.f, value)
                active[owner.name] = step.value
            elif owner is not None and step.f == owner.stop_f:
                active.pop(owner.name, None)
            yield step

    def final_schedule(self, ctx: NemesisContext) -> Schedule:
        steps: list[ScheduledOp] = []
        for child in self.children:
            steps.extend(child.final_schedule(ctx))
        return Schedule.of(steps)


def merge_fault_ops(nemeses: Sequence[Nemesis]) -> dict[str, tuple[str, str]]:
    """The union of the nemeses' `fault_ops`; `UsageError` when two of them give one kind
    different ops or one op two kinds (the report and the checkers could not tell them apart)."""
    merged: dict[str, tuple[str, str]] = {}
    owner_of_op: dict[str, tuple[str, str]] = {}  # op -> (kind, nemesis)
    for nemesis in nemeses:
        for kind, ops in nemesis.fault_ops.items():
            ops = (str(ops[0]), str(ops[1]))
            if merged.get(kind, ops) != ops:
                raise UsageError(f"nemeses {', '.join(n.name for n in nemeses)}: fault "
                                 f"{kind!r} is {merged[kind]} in one and {ops} in "
                                 f"{nemesis.name!r}")
            merged[kind] = ops
            for op in ops:
                other_kind, other = owner_of_op.setdefault(op, (kind, nemesis.name))
                if other_kind != kind:
                    raise UsageError(f"op {op!r} opens or closes fault {other_kind!r} in "
                                     f"{other!r} but {kind!r} in {nemesis.name!r}")
    return merged


def compose(nemeses: Sequence[Nemesis]) -> Nemesis:
    """One nemesis made of several (a single one is returned as is)."""
    if len(nemeses) == 1:
        return nemeses[0]
    return ComposedNemesis(nemeses)


_OP_TYPES = ("invoke", "ok", "fail", "info")


class WrappingNemesis(Nemesis):
    """A nemesis standing in for `inner`: its name, ops and fault ops, and every method passed
    on to it. Subclasses override what they change (`ValidatingNemesis`, `RecordedNemesis`)."""

    def __init__(self, inner: Nemesis) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]
        self.help = inner.help  # type: ignore[misc]
        self.fs = inner.fs  # type: ignore[misc]
        self.start_f = inner.start_f  # type: ignore[misc]
        self.stop_f = inner.stop_f  # type: ignore[misc]

    @property
    def fault_ops(self) -> Mapping[str, tuple[str, str]]:
        return self.inner.fault_ops

    def check_cluster(self, ctx: NemesisContext) -> None:
        self.inner.check_cluster(ctx)

    def setup(self, ctx: NemesisContext) -> None:
        self.inner.setup(ctx)

    def invoke(self, ctx: NemesisContext, op: Any) -> Any:
        return self.inner.invoke(ctx, op)

    def teardown(self, ctx: NemesisContext) -> None:
        self.inner.teardown(ctx)

    def schedule(self, ctx: NemesisContext, offset_s: float = 0.0) -> Schedule:
        return self.inner.schedule(ctx, offset_s)

    def final_schedule(self, ctx: NemesisContext) -> Schedule:
        return self.inner.final_schedule(ctx)


class ValidatingNemesis(WrappingNemesis):
    """Wraps a nemesis and checks its protocol (Jepsen's `validate`). The runner wraps every run's
    nemesis in one and records `problems` in `test.json` (`nemesis_problems`); the checkers list
    them in `results.json` (`nemesis_protocol`). A breach is one of:

    - a malformed invoke op (type, process, an `f` not in `fs`, a value that is not a mapping) or a
      start of a fault its nemesis still holds open: not passed on, completed `info` with `error`;
    - `invoke` raising, or returning something that is not an op (a mapping or an `Op`);
    - a completion of another type than `info`, or with another `f` or `process` than its invoke;
    - a main-phase stop when that nemesis holds no fault open (still carried out: heals are
      idempotent, and the heal phase's stops, tagged `final`, may find nothing to heal);
    - a start never followed by its stop (found at teardown).

    Whatever the inner nemesis returned, the completion handed back is the invoke's own `info`
    completion (its `f` and `process`; the value returned, when there is one), with an `error`
    naming the breach: the history's fault record stays well formed.
    """

    def __init__(self, inner: Nemesis) -> None:
        super().__init__(inner)
        self.problems: list[str] = []
        self.active: set[tuple[str, str]] = set()

    def _pairs(self) -> dict[str, str]:
        """start f -> stop f, for the inner nemesis and, if composed, each of its children."""
        return {n.start_f: n.stop_f for n in _leaves(self.inner) if n.start_f}

    def _owner(self, op: Any) -> str:
        value = op_field(op, "value")
        tag = value.get("nemesis") if isinstance(value, Mapping) else None
        return str(tag or self.inner.name)

    def _note(self, op: Any, problems: list[str]) -> None:
        index, f = op_field(op, "index"), op_field(op, "f")
        where = f"op {index} {f}" if index is not None else f"{f}"
        self.problems.extend(f"{where}: {problem}" for problem in problems)

    def check_invoke(self, op: Any) -> list[str]:
        """Problems with an invoke op before it is carried out."""
        problems: list[str] = []
        f, value = op_field(op, "f"), op_field(op, "value")
        if op_field(op, "type") != "invoke":
            problems.append(f"op type must be 'invoke', got {op_field(op, 'type')!r}")
        if op_field(op, "process", NEMESIS_PROCESS) != NEMESIS_PROCESS:
            problems.append(f"process must be {NEMESIS_PROCESS!r}, got {op_field(op, 'process')!r}")
        if not isinstance(f, str) or f not in self.fs:
            problems.append(f"f={f!r} is not one of {sorted(self.fs)}")
        if value is not None and not isinstance(value, Mapping):
            problems.append(f"value must be a mapping, got {type(value).__name__}")
        pairs = self._pairs()
        if not problems and f in pairs and (self._owner(op), f) in self.active:
            problems.append(f"{f} by {self._owner(op)} while its previous {f} was not stopped")
        return problems

    def check_completion(self, op: Any, done: Any) -> list[str]:
        """Problems with what `invoke` returned for `op`."""
        if not isinstance(done, Mapping) and not hasattr(done, "f"):
            return [f"invoke returned {type(done).__name__} {_short(done)}, not an op"]
        problems: list[str] = []
        if op_field(done, "type") != "info":
            problems.append(f"completion type must be 'info', got {op_field(done, 'type')!r}")
        if op_field(done, "f") != op_field(op, "f"):
            problems.append(f"completion f {op_field(done, 'f')!r} != {op_field(op, 'f')!r}")
        if op_field(done, "process", NEMESIS_PROCESS) != op_field(op, "process", NEMESIS_PROCESS):
            problems.append("completion process differs from the invoke's")
        return problems

    def invoke(self, ctx: NemesisContext, op: Any) -> Any:
        problems = self.check_invoke(op)
        if problems:
            self._note(op, problems)
            return completion(op, op_field(op, "value"), error="invalid nemesis op: "
                              + "; ".join(problems))
        try:
            done = self.inner.invoke(ctx, op)
            problems = self.check_completion(op, done)
        except Exception as exc:  # noqa: BLE001 - a raising nemesis is a breach, not a crash
            done, problems = None, [f"invoke raised {type(exc).__name__}: {exc}"]
        self._track(op)
        if not problems:
            return done
        self._note(op, problems)
        is_op = isinstance(done, Mapping) or hasattr(done, "f")
        errors = [str(op_field(done, "error"))] if is_op and op_field(done, "error") else []
        errors.append("nemesis protocol breach: " + "; ".join(problems))
        value = op_field(done, "value") if is_op else op_field(op, "value")
        return completion(op, value, error="; ".join(errors))

    def _track(self, op: Any) -> None:
        """Open or close the fault `op` starts or stops (after it was carried out)."""
        f, owner = str(op_field(op, "f")), self._owner(op)
        pairs = self._pairs()
        if f in pairs:
            self.active.add((owner, f))
            return
        starts = {start for start, stop in pairs.items() if stop == f}
        if not starts:
            return
        untagged = owner == self.inner.name  # an untagged stop heals every child
        closed = {(o, s) for o, s in self.active if s in starts and (untagged or o == owner)}
        value = op_field(op, "value")
        final = isinstance(value, Mapping) and bool(value.get("final"))
        if not closed and not final:
            self._note(op, [f"{f} by {owner} heals no fault it opened"])
        self.active -= closed

    def teardown(self, ctx: NemesisContext) -> None:
        for owner, start in sorted(self.active):
            self.problems.append(f"{start} by {owner} was never followed by its stop")
        self.inner.teardown(ctx)


def _leaves(nemesis: Nemesis) -> list[Nemesis]:
    """The nemeses that do the work: wrappers unwrapped, compositions flattened."""
    while isinstance(nemesis, WrappingNemesis):
        nemesis = nemesis.inner
    children = getattr(nemesis, "children", None)
    if not children:
        return [nemesis]
    return [leaf for child in children for leaf in _leaves(child)]


def _short(thing: Any) -> str:
    text = repr(thing)
    return text if len(text) <= 80 else text[:77] + "..."


def validate(nemesis: Nemesis) -> ValidatingNemesis:
    """Wrap `nemesis` in a `ValidatingNemesis`."""
    return ValidatingNemesis(nemesis)
