"""The sim driver: `run_test` for `--backend sim`, every phase in virtual time.

The same phases, generators, nemeses, run directory and checkers as the asyncio runner
(`harness.runner`), but one seeded event loop (`SimCluster`'s heap of `(time_ns, seq, action)`)
runs the cluster, the simulated users (`SimClients`) and the interpreter (`SimInterpreter`).
Nemesis ops complete at the virtual instant they are invoked. History and event times are
virtual ns since the start; so are the phases in `test.json` (`"clock": "virtual"`).
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from pathlib import Path
from typing import TYPE_CHECKING, Any

from imcluster import _accel

from .._options import cluster_spec
from ..errors import UsageError
from ..generators import Context, Generator, Pending, nemesis_completion
from ..history import HistoryWriter, ProcessTable
from ..ops import NEMESIS, Op
from ..schedule_file import plan_nemesis
from ..seams import Backend
from ..store import create_run_dir, write_json
from ..systems.imcluster import final_state_of
from ..workload import WorkloadSpec
from ._backend import SimBackend, SimCluster
from ._clients import SimClients

if TYPE_CHECKING:
    from .._options import RunOptions
    from ..nemesis import NemesisContext
    from ..runner import RunOutcome, RunState

__all__ = ["EventSink", "SimInterpreter", "run_sim_test"]

POLL_NS = 200_000_000
"""Longest wait between polls of a generator pending without a wake time (as `Interpreter`)."""

GC_THRESHOLDS = (50_000, 20, 100)
"""The garbage collector's thresholds while a sim run lasts (CPython's default: 700, 10, 10)."""


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Run the block with `GC_THRESHOLDS`, then restore the collector's thresholds.

    A sim run allocates millions of short-lived frames, tuples and events, none in reference
    cycles worth collecting early; at the default thresholds the cyclic collector cost ~8 % of the
    CPU of the sim_speed benchmark (a young collection every 700 allocations, each full one
    walking every live entry of every replica). Collection timing changes no output (nothing in
    the cores uses finalizers or weak references); the peak RSS was the same (133 MB)."""
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)


class SimInterpreter:
    """Runs generators against `SimClients` and a nemesis, in the cluster's virtual time."""

    def __init__(self, cluster: SimCluster, history: HistoryWriter, processes: ProcessTable,
                 clients: SimClients, nemesis_invoke: Callable[[Op], Any], seed: int,
                 on_op: Callable[[Op], None] | None = None,
                 on_idle: Callable[[], None] = lambda: None) -> None:
        self.cluster = cluster
        self.on_idle = on_idle
        self.history = history
        self.processes = processes
        self.clients = clients
        self.nemesis_invoke = nemesis_invoke
        self.seed = seed
        self.on_op = on_op
        self.busy: set[str] = set()
        self._free: frozenset[str] | None = None  # the free threads, until `busy` changes
        self._free_of: object = None  # ... of this workers snapshot
        self.in_flight = 0
        self.changed = False

    def _finish(self, thread: str, completion: Op) -> None:
        recorded = self.history.append(completion)
        if recorded.type == "info" and thread != NEMESIS:
            self.processes.crashed(thread)
        self.busy.discard(thread)
        self.in_flight -= 1
        self.changed = True
        self._free = None
        if self.on_op is not None:
            self.on_op(recorded)

    def _start(self, thread: str, invocation: Op) -> None:
        if thread != NEMESIS:
            self.clients.invoke(invocation, lambda done: self._finish(thread, done))
            return
        try:
            completion = nemesis_completion(self.nemesis_invoke(invocation), invocation)
        except Exception as exc:  # noqa: BLE001 - invoke never raises into the run: an info op
            completion = invocation.complete("info", error=f"{type(exc).__name__}: {exc}")
        self._finish(thread, completion)

    def run(self, gen: Generator) -> None:
        """Run `gen` until it is exhausted and every op it started has completed."""
        cluster = self.cluster
        until = self._changed
        while True:
            workers = self.processes.snapshot()
            busy = self.busy
            free = self._free
            if free is None or self._free_of is not workers:
                free = self._free = frozenset(workers.keys() - busy)
                self._free_of = workers
            ctx = Context(cluster.now_ns, free, workers, self.seed, self.clients.facts())
            result = gen.op(ctx)
            if result is None:
                break
            value, gen = result
            if isinstance(value, Op):
                thread = self.processes.thread(value.process)
                busy.add(thread)
                self._free = None
                self.in_flight += 1
                invocation = self.history.append(value)
                if self.on_op is not None:
                    self.on_op(invocation)
                self._start(thread, invocation)
                continue
            assert isinstance(value, Pending)
            limit = cluster.now_ns + POLL_NS
            wake = value.wake_at
            if wake is not None:
                if value.time_only and wake > cluster.now_ns + 1:
                    # nothing can change the answer before `wake`: completions up to the
                    # instant before it need no poll; the events due at `wake` itself run as
                    # below, so a completion at that instant still polls before the rest
                    cluster.run_until_ns(min(limit, wake - 1))
                limit = min(limit, wake)
            self.changed = False
            cluster.run_until_ns(limit, until)
            self.on_idle()
        while self.in_flight:
            if not cluster.step():
                raise RuntimeError("ops in flight but nothing scheduled")

    def _changed(self) -> bool:
        return self.changed


def _hub_statuses(backend: SimBackend, dc_names: list[str]) -> dict[str, dict[str, Any] | None]:
    statuses: dict[str, dict[str, Any] | None] = {}
    for dc in dc_names:
        try:
            statuses[dc] = backend.status(f"{dc}-hub")
        except ConnectionError:
            statuses[dc] = None
    return statuses


class EventSink:
    """Streams the cluster's merged event log (already in time order) into `events.jsonl`, so a
    long run does not hold every event in memory. Each line is what `json.dumps(event,
    separators=(",", ":"))` writes, formatted directly (times and seqs are ints, the other fields
    strings)."""

    BATCH = 20_000

    def __init__(self, cluster: SimCluster, out: Path) -> None:
        self.cluster = cluster
        self.out = out
        self._file = open(out, "w", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.written = 0

    def drain(self, force: bool = False) -> None:
        events = self.cluster.events
        if self._file.closed or not (force or len(events) >= self.BATCH):
            return
        q = encode_basestring_ascii
        self._file.writelines(
            f'{{"time":{e["time"]},"dc":{q(e["dc"])},"node":{q(e["node"])},'
            f'"event":{q(e["event"])},"kind":{q(e["kind"])},"key":{q(e["key"])},'
            f'"origin":{q(e["origin"])},"seq":{e["seq"]}}}\n'
            for e in events)
        self.written += len(events)
        events.clear()

    def close(self) -> None:
        """Write what is left; later events (after collect) are not part of the run."""
        self.drain(force=True)
        self._file.close()


def run_sim_test(options: RunOptions, state: RunState | None = None,
                 say: Callable[[str], None] = lambda m: None, backend: Backend | None = None,
                 check: bool = True) -> RunOutcome:
    """`run_test` on the sim backend (see the module docstring). A shared cluster handed in
    (`im_cluster`) is only checked against the run's options: each sim run gets a fresh
    cluster, which costs nothing. `check=False` stops after collecting (benchmarks).
    `test.json`'s `sim` holds the wall and virtual seconds of setup..collect."""
    from .. import runner
    from ..nemesis import NemesisContext

    sim = SimBackend()
    nemesis = runner.checked_nemesis(options, sim)  # UsageError before anything starts
    validator = nemesis
    fault_ops = runner.fault_ops_json(nemesis)
    state = state or runner.RunState()
    state.fault_ops = runner.fault_ops_of({"fault_ops": fault_ops})  # live progress: as recorded
    start_wall_ns = time.time_ns()
    run_dir = create_run_dir(options.store, options.test_name())
    phases: dict[str, list[int]] = {}

    speed: dict[str, Any] = {}

    def test_json() -> dict[str, Any]:
        test = runner.build_test_json(options, start_wall_ns, phases, fault_ops,
                                      validator.problems)
        test["clock"] = "virtual"
        if speed:
            test["sim"] = dict(speed)
        return test

    write_json(run_dir / "test.json", test_json())
    say(f"seed {options.seed}  run dir {run_dir}  (sim: virtual time; {_accel.status()[1]})")
    spec = cluster_spec(options, run_dir / "work")
    if backend is not None and not isinstance(backend, SimBackend):
        if getattr(backend, "name", "sim") != "sim":
            raise UsageError(f"--backend sim cannot run on a {backend.name!r} cluster")
        backend.start(spec)  # a shared cluster: checks that the run fits it
    sim.start(spec)
    cluster = sim._cluster()
    history = HistoryWriter(run_dir / "history.jsonl", start_ns=0,
                            clock=lambda: cluster.now_ns, flush=False)
    started, started_cpu = time.perf_counter(), time.process_time()
    nemesis_ctx = NemesisContext(backend=sim, dc_names=options.dc_names,
                                 rng=random.Random(options.seed), options=test_json(), spec=spec)
    sink = EventSink(cluster, run_dir / "events.jsonl")
    with fewer_collections():
        try:
            state.phase = "setup"
            nemesis.setup(nemesis_ctx)
            nemesis = plan_nemesis(nemesis, nemesis_ctx, options, run_dir)  # writes schedule.json
            _phases(options, sim, nemesis, nemesis_ctx, history, phases, state, say, run_dir, sink)
        finally:
            state.phase = "teardown"
            try:
                nemesis.teardown(nemesis_ctx)
            except Exception as exc:  # noqa: BLE001 - teardown continues
                say(f"nemesis teardown failed: {exc}")
            history.close()
            sink.close()
            sim.collect(run_dir)
            wall = time.perf_counter() - started
            speed.update(wall_s=round(wall, 3), cpu_s=round(time.process_time() - started_cpu, 3),
                         virtual_s=round(cluster.now_ns / 1e9, 3),
                         speedup=round(cluster.now_ns / 1e9 / max(wall, 1e-9), 1),
                         accel=_accel.in_use())
            write_json(run_dir / "test.json", test_json())
    if not check:
        return runner.RunOutcome(run_dir, {"valid": "unknown"}, runner.EXIT_UNKNOWN)
    state.phase = "check"
    results = runner.check_run_dir(run_dir)
    write_json(run_dir / "results.json", results)
    state.phase = "report"
    try:
        runner.write_report(run_dir, results)
    except Exception as exc:  # noqa: BLE001 - a report bug must not hide the verdict
        say(f"report failed: {type(exc).__name__}: {exc}")
    state.phase = "done"
    return runner.RunOutcome(run_dir, results, runner.exit_code_of(results))


def _phases(options: RunOptions, sim: SimBackend, nemesis: Any, nemesis_ctx: NemesisContext,
            history: HistoryWriter, phases: dict[str, list[int]], state: RunState,
            say: Callable[[str], None], run_dir: Path, sink: EventSink) -> None:
    from .. import runner

    cluster = sim._cluster()
    spec = WorkloadSpec.build(options.users, options.dc_names, options.roam, options.locality,
                              options.seed)
    processes = ProcessTable(list(spec.users) + [NEMESIS])
    access = {dc: [n.name for n in sim.access_nodes(dc)] for dc in options.dc_names}
    clients = SimClients(cluster, history, processes, access, sim.secret)
    interpreter = SimInterpreter(cluster, history, processes, clients,
                                 lambda op: nemesis.invoke(nemesis_ctx, op), options.seed,
                                 state.on_op, sink.drain)
    state.phase = "main"
    t0 = history.now()
    interpreter.run(runner.main_generator(options, spec, nemesis, nemesis_ctx))
    phases["main"] = [t0, history.now()]

    state.phase = "heal"
    t0 = history.now()
    interpreter.run(runner.heal_generator(options, nemesis, nemesis_ctx))
    phases["heal"] = [t0, history.now()]

    state.phase = "recovery"
    t0 = history.now()
    deadline = cluster.now_ns + int(options.recovery_timeout * 1e9)
    interpreter.run(runner.recovery_generator(options, spec))
    watch = runner.RecoveryWatch(runner.QUIET_PERIOD_S * 1e9)
    while True:
        statuses = _hub_statuses(sim, options.dc_names)
        if watch.done(final_state_of(statuses), cluster.now_ns, clients.last_delivery) \
                or cluster.now_ns >= deadline:
            break
        cluster.run_until_ns(cluster.now_ns + POLL_NS)
        sink.drain()
    phases["recovery"] = [t0, history.now()]
    write_json(run_dir / "final.json", runner.final_json(statuses, history.now()))
    if not runner.converged(statuses):
        say("recovery timed out before the hubs converged")
    state.phase = "collect"
    sink.close()
    clients.close_all()
