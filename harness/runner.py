"""The test runner: setup -> main -> heal -> recovery -> collect -> check -> report -> teardown.

`run_test(options)` runs one test (DESIGN §2 "Runner phases") and returns a `RunOutcome` with the
run directory, the results and the exit code. Teardown always happens: backend stop on success,
exceptions and Ctrl-C (KeyboardInterrupt). Nemesis ops run in a worker thread (their `invoke` is
synchronous); client ops run on the asyncio loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from checkers import FaultOps, fault_ops_of

from ._options import RunOptions, cluster_spec
from ._signals import run_interruptible, teardown_shield
from .errors import SetupError
from .generators import (
    Generator,
    Interpreter,
    any_of,
    concat,
    from_schedule,
    on_clients,
    on_nemesis,
    on_thread,
    once,
    stagger,
    time_limit,
)
from .history import HistoryWriter, ProcessTable
from .ops import NEMESIS, Op
from .schedule_file import plan_nemesis
from .store import create_run_dir, write_json
from .systems import FinalState, System, get_system
from .systems.imcluster import converged, final_json  # re-exported (old API)
from .workload import UserClients, UserWorkload, WorkloadSpec, recovery_logins

if TYPE_CHECKING:
    from .seams import Backend

QUIET_PERIOD_S = 2.0
"""Recovery ends when the DCs agree and, for this long, no delivery arrived and the system's
activity (a hub's version vector or unacknowledged offers) did not change (`RecoveryWatch`)."""
EXIT_VALID, EXIT_INVALID, EXIT_UNKNOWN, EXIT_SETUP = 0, 1, 3, 4


@dataclass
class RunOutcome:
    run_dir: Path
    results: dict[str, Any]
    exit_code: int


class RunState:
    """Live figures for the progress display. `fault_ops` is the run's `test.json` record of
    which ops open and close each kind of fault (`run_test` sets it before the first op)."""

    def __init__(self, fault_ops: dict[str, dict[str, str]] | None = None) -> None:
        self.phase = "setup"
        self.ops = 0
        self.active_faults: dict[str, Any] = {}  # fault kind -> the value of its open op
        self.started = time.monotonic()
        self.first_op_at: float | None = None
        self.clients: UserClients | None = None
        self.fault_ops = fault_ops_of({"fault_ops": fault_ops or {}})

    def on_op(self, op: Op) -> None:
        self.ops += 1
        if self.first_op_at is None:
            self.first_op_at = time.monotonic()
        if op.process == NEMESIS and op.type == "info":
            if op.f in self.fault_ops.opens:
                self.active_faults[self.fault_ops.opens[op.f]] = op.value
            elif op.f in self.fault_ops.closes:
                self.active_faults.pop(self.fault_ops.closes[op.f], None)


@functools.lru_cache(maxsize=1)
def _versions() -> dict[str, str]:
    from importlib import metadata
    versions = {"python": sys.version.split()[0]}
    for dist in ("imfault", "toxiproxy-python", "networkx", "rich"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    try:  # the source tree's commit, when running from a git checkout
        import subprocess
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=5, check=False,
                                cwd=Path(__file__).resolve().parent.parent).stdout.strip()
        if commit:
            versions["git"] = commit
    except (OSError, subprocess.SubprocessError):
        pass
    return versions


def build_test_json(options: RunOptions, start_wall_ns: int, phases: dict[str, list[int]],
                    fault_ops: dict[str, dict[str, str]] | None = None,
                    nemesis_problems: list[str] | None = None,
                    system: System | None = None,
                    link_checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """`test.json`: the options, plus `fault_ops` (`fault_ops_json` of the run's nemesis),
    `nemesis_problems` (the protocol breaches its `ValidatingNemesis` found), the system's
    `guarantees` and the `link_checks` made so far, when given."""
    test = options.to_json()
    test["name"] = options.test_name()
    test.update(dc_names=options.dc_names, versions=dict(_versions()), command=options.command(),
                start_wall_ns=start_wall_ns, phases=phases, fault_ops=fault_ops or {})
    if nemesis_problems is not None:
        test["nemesis_problems"] = list(nemesis_problems)
    if system is not None:
        test.update(guarantees=system.guarantees.to_json(), link_checks=link_checks or [])
    return test


def checked_nemesis(options: RunOptions, backend: Any) -> Any:
    """The run's nemesis (`--nemesis`) wrapped in `validate`, after asking it whether it can
    fault this cluster (`Nemesis.check_cluster`): a `UsageError` (exit 2) then comes before the
    run directory exists or any process starts. `backend` is the backend not yet started."""
    from .nemesis import NemesisContext, get_nemesis, validate

    nemesis = get_nemesis(options.nemesis)  # UsageError naming an unknown nemesis
    spec = cluster_spec(options, Path(options.store) / "not-started")  # nothing is created
    nemesis.check_cluster(NemesisContext(backend=backend, dc_names=options.dc_names,
                                         rng=random.Random(options.seed),
                                         options=options.to_json(), spec=spec))
    return validate(nemesis)


def fault_ops_json(nemesis: Any) -> dict[str, dict[str, str]]:
    """A nemesis's `fault_ops` as `test.json` records them: `{kind: {"open": f, "close": f}}`."""
    return FaultOps(nemesis.fault_ops).to_json()


def merge_event_logs(paths: dict[str, Path], start_wall_ns: int, out: Path) -> int:
    """Write `events.jsonl`: every hub's event log, times relative to the start, sorted."""
    events = []
    for dc, path in paths.items():
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            continue
        for line in text.splitlines():
            try:
                raw = json.loads(line)
                events.append({"time": int(raw["ts_ns"]) - start_wall_ns,
                               "dc": raw.get("dc", dc), "node": raw.get("node", f"{dc}-hub"),
                               "event": raw["event"], "kind": raw.get("kind"),
                               "key": raw.get("key"), "origin": raw.get("origin"),
                               "seq": raw.get("seq")})
            except (ValueError, KeyError, TypeError):
                continue  # a torn line of a killed hub
    events.sort(key=lambda e: e["time"])
    with open(out, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(event, separators=(",", ":")) + "\n" for event in events)
    return len(events)


class RecoveryWatch:
    """Decides when the recovery phase may end, on any clock (seconds or virtual nanoseconds):
    the DCs agree (`FinalState.converged`), and for `quiet` no delivery arrived and the system's
    `activity` (imcluster: each hub's version vector and count of unacknowledged offers) did not
    change. The last condition matters: a hub that applied a message just before a poll has yet
    to hand it to its online recipient (found by `imfault explore`: the run ended 0.3 ms after
    the last apply and the message read as lost). A system `busy` at the first poll (offers
    held) counts as a change then."""

    def __init__(self, quiet: float) -> None:
        self.quiet = quiet
        self._first = True
        self._activity: Any = None
        self._changed = float("-inf")

    def done(self, final: FinalState, now: float, last_delivery: float) -> bool:
        if self._first:
            self._first = False
            if final.busy:
                self._changed = now
        elif final.activity != self._activity:
            self._changed = now
        self._activity = final.activity
        return final.converged and now - max(last_delivery, self._changed) >= self.quiet


def check_run_dir(run_dir: Path) -> dict[str, Any]:
    """Run the checkers on a run directory (`checkers.check_run`), or counts only without them."""
    try:
        import checkers
        check_run = getattr(checkers, "check_run", None)
    except ImportError:
        check_run = None
    if check_run is not None:
        return dict(check_run(run_dir))
    return counts_only(run_dir)


def counts_only(run_dir: Path) -> dict[str, Any]:
    from .history import read_history
    counts: dict[str, int] = {}
    for op in read_history(run_dir / "history.jsonl"):
        key = f"{op.f}:{op.type}"
        counts[key] = counts.get(key, 0) + 1
    return {"valid": "unknown", "stats": {"valid": "unknown", "counts": counts,
                                          "reason": "checkers package not available"}}


def exit_code_of(results: dict[str, Any]) -> int:
    valid = results.get("valid")
    if valid is True:
        return EXIT_VALID
    if valid is False:
        return EXIT_INVALID
    return EXIT_UNKNOWN


def write_report(run_dir: Path, results: dict[str, Any]) -> Path | None:
    try:
        from reports import write_report as _write
    except ImportError:
        return None
    return Path(_write(run_dir, results))


Reporter = Callable[[str], None]


def run_test(options: RunOptions, state: RunState | None = None,
             say: Reporter = lambda message: None, backend: Backend | None = None) -> RunOutcome:
    """Run one test end to end; teardown always. `SetupError` propagates (exit 4), also when
    inter-DC traffic bypassed the WAN (checked after setup and after every heal).
    `--backend sim` runs in virtual time (`harness.sim`)."""
    system = get_system(options.system)
    system.check_backend(options.backend)
    system.check_options(options)
    if options.backend == "sim":
        from .sim import run_sim_test
        return run_sim_test(options, state, say, backend)
    from .nemesis import NemesisContext

    system.check_installed(options.backend)
    backend = backend if backend is not None else system.make_backend(options.backend)
    nemesis = checked_nemesis(options, backend)  # UsageError before anything starts
    validator = nemesis
    fault_ops = fault_ops_json(nemesis)
    state = state or RunState()
    state.fault_ops = fault_ops_of({"fault_ops": fault_ops})  # live progress: as recorded
    start_wall_ns = time.time_ns()
    start_mono = time.monotonic_ns()
    run_dir = create_run_dir(options.store, options.test_name())
    phases: dict[str, list[int]] = {}

    links = LinkChecks(system)

    def test_json() -> dict[str, Any]:
        return build_test_json(options, start_wall_ns, phases, fault_ops, validator.problems,
                               system, links.checks)

    write_json(run_dir / "test.json", test_json())
    say(f"seed {options.seed}  run dir {run_dir}")
    history = HistoryWriter(run_dir / "history.jsonl", start_ns=start_mono)
    spec = cluster_spec(options, run_dir / "work")
    nemesis_ctx = None
    results: dict[str, Any] = {"valid": "unknown"}
    try:
        state.phase = "setup"
        backend.start(spec)
        links.verify(backend, "setup", history.now())
        links.raise_bypass()
        nemesis_ctx = NemesisContext(backend=backend, dc_names=options.dc_names,
                                     rng=random.Random(options.seed), options=test_json(),
                                     spec=spec)
        nemesis.setup(nemesis_ctx)
        nemesis = plan_nemesis(nemesis, nemesis_ctx, options, run_dir)  # writes schedule.json
        run_interruptible(_phases(options, system, backend, nemesis, nemesis_ctx, history,
                                  phases, state, say, links,
                                  lambda: collect(backend, run_dir, start_wall_ns)))
    finally:
        with teardown_shield() as shield:  # a second Ctrl-C or a SIGTERM cannot abort it
            try:
                links.wait()  # the heals' link checks, while the nodes still run
                _teardown(backend, nemesis, nemesis_ctx, run_dir, start_wall_ns, state, say)
            finally:
                history.close()
                write_json(run_dir / "test.json", test_json())
    if shield.received:  # the run had ended, then was interrupted during its teardown
        raise KeyboardInterrupt(shield.received[0])
    state.phase = "check"
    results = check_run_dir(run_dir)
    write_json(run_dir / "results.json", results)
    state.phase = "report"
    try:
        write_report(run_dir, results)
    except Exception as exc:  # noqa: BLE001 - a report bug must not hide the verdict
        say(f"report failed: {type(exc).__name__}: {exc}")
    state.phase = "done"
    links.raise_bypass(run_dir)
    return RunOutcome(run_dir, results, exit_code_of(results))


def _teardown(backend: Backend, nemesis: Any, nemesis_ctx: Any, run_dir: Path, start_wall_ns: int,
              state: RunState, say: Reporter) -> None:
    """Collect what an interrupted or failed run left, tear the nemesis down, stop the backend;
    each step runs even when the one before it failed (the backend's error is raised last)."""
    if backend_started(backend) and not (run_dir / "events.jsonl").exists():
        try:  # an interrupted or failed run: keep what can be checked
            collect(backend, run_dir, start_wall_ns)
        except Exception as exc:  # noqa: BLE001 - teardown must go on
            say(f"collect failed: {type(exc).__name__}: {exc}")
    state.phase = "teardown"
    if nemesis is not None and nemesis_ctx is not None:
        try:
            nemesis.teardown(nemesis_ctx)
        except Exception as exc:  # noqa: BLE001 - teardown continues
            say(f"nemesis teardown failed: {exc}")
    backend.stop()


async def _phases(options: RunOptions, system: System, backend: Backend, nemesis: Any,
                  nemesis_ctx: Any, history: HistoryWriter, phases: dict[str, list[int]],
                  state: RunState, say: Reporter, links: LinkChecks,
                  collect_events: Callable[[], None]) -> None:
    nemesis_ctx.loop = asyncio.get_running_loop()
    spec = WorkloadSpec.build(options.users, options.dc_names, options.roam, options.locality,
                              options.seed)
    processes = ProcessTable(list(spec.users) + [NEMESIS])
    clients = UserClients(history, processes, backend.access_addresses(), backend.secret,
                          client_factory=system.client_factory(backend))
    state.clients = clients
    heals = set(fault_ops_of({"fault_ops": fault_ops_json(nemesis)}).closes)

    def invoke_nemesis(op: Op) -> Op:
        done = nemesis.invoke(nemesis_ctx, op)
        if op.f in heals:  # every heal: is the traffic back on the WAN?
            links.verify_later(backend, f"after {op.f}", history.now())
        return done  # type: ignore[no-any-return]

    interpreter = Interpreter(history, processes, clients.invoke, invoke_nemesis, clients.facts,
                              options.seed, state.on_op)
    try:
        await system.prepare(backend, list(spec.users))
        state.phase = "main"
        t0 = history.now()
        await interpreter.run(main_generator(options, spec, nemesis, nemesis_ctx))
        phases["main"] = [t0, history.now()]

        state.phase = "heal"
        t0 = history.now()
        await interpreter.run(heal_generator(options, nemesis, nemesis_ctx))
        phases["heal"] = [t0, history.now()]

        state.phase = "recovery"
        t0 = history.now()
        deadline = time.monotonic() + options.recovery_timeout
        await interpreter.run(recovery_generator(options, spec))
        final = await _await_convergence(system, backend, options.dc_names, clients, deadline,
                                         relogin_dropped(interpreter, clients, options, spec, say))
        phases["recovery"] = [t0, history.now()]
        if final.final is not None:
            write_json(history.path.parent / "final.json", {**final.final, "time": history.now()})
        if not final.converged:
            say("recovery timed out before the DCs converged")
        await log_out_dropped(interpreter, clients, spec, say)
        # Collect while every user is still online: closing the connections originates new
        # (offline) coordinates that belong to no phase of the test.
        state.phase = "collect"
        await asyncio.get_running_loop().run_in_executor(None, collect_events)
    finally:
        await interpreter.cancel()
        await clients.close_all()
        await interpreter.aclose()


def main_generator(options: RunOptions, spec: WorkloadSpec, nemesis: Any,
                   nemesis_ctx: Any) -> Generator:
    """The main phase: the users' workload at `rate` and the nemesis, for `time_limit`."""
    client_gen = time_limit(options.time_limit,
                            stagger(1.0 / options.rate, UserWorkload.create(spec),
                                    seed=options.seed))
    nemesis_gen = as_generator(nemesis.generator(nemesis_ctx), options.time_limit)
    return any_of(on_clients(client_gen), on_nemesis(time_limit(options.time_limit, nemesis_gen)))


def heal_generator(options: RunOptions, nemesis: Any, nemesis_ctx: Any) -> Generator:
    """The heal phase: every nemesis's final generator."""
    return on_nemesis(as_generator(nemesis.final_generator(nemesis_ctx), options.recovery_timeout))


def recovery_generator(options: RunOptions, spec: WorkloadSpec,
                       limit_s: float | None = None) -> Generator:
    """The recovery phase's logins: every user offline, bounded by `limit_s` (default:
    `recovery_timeout`)."""
    return on_clients(time_limit(options.recovery_timeout if limit_s is None else limit_s,
                                 recovery_logins(spec)))


def collect(backend: Backend, run_dir: Path, start_wall_ns: int) -> None:
    """Node logs into `logs/`, the hubs' event logs merged into `events.jsonl`."""
    event_logs = backend.collect(run_dir)
    merge_event_logs(event_logs, start_wall_ns, run_dir / "events.jsonl")


def backend_started(backend: Backend) -> bool:
    try:
        return bool(backend.nodes())
    except Exception:  # noqa: BLE001 - not started
        return False


def as_generator(schedule: Any, limit_s: float) -> Generator:
    """A nemesis's main/final schedule as a generator (a `Generator` already, or a `Schedule`
    of timed ops, cut at `limit_s`)."""
    if isinstance(schedule, Generator):
        return schedule
    steps = schedule.until(limit_s) if hasattr(schedule, "until") else list(schedule)
    return from_schedule(steps)


def relogin_dropped(interpreter: Interpreter, clients: UserClients, options: RunOptions,
                    spec: WorkloadSpec, say: Reporter) -> Callable[[float], Awaitable[bool]]:
    """For the recovery wait: log in again, within the seconds left, the users whose session the
    system ended since the recovery logins (a server dropping a client that missed its pings
    under load, an access node that closed it); True if there were any. Recovery is over only
    with every user online: what waits for a user whose session ended unrecorded reads as lost
    (NATS under load: 81 "lost" messages, all due to such users)."""

    async def log_in_again(left_s: float) -> bool:
        dropped = [user for user in spec.users if user not in clients.sessions]
        if not dropped:
            return False
        say(f"recovery: {len(dropped)} users offline (first {dropped[0]}: a session the system "
            f"ended, or a login that failed): logging them in again")
        await interpreter.run(recovery_generator(options, spec, left_s))
        return True

    return log_in_again


async def log_out_dropped(interpreter: Interpreter, clients: UserClients, spec: WorkloadSpec,
                          say: Reporter) -> list[str]:
    """After the recovery wait: log out (an op each, in the user's own process) the users whose
    session ended and did not come back. The history still had them online, so their
    unreceived messages read as lost; logged out, they are unverifiable (`offline_at_end`:
    verdict unknown, never a pass nor a false loss). Returns them."""
    offline = [user for user in spec.users if user not in clients.sessions]
    if offline:
        say(f"recovery ended with {len(offline)} users offline (their sessions ended and "
            f"logging in again did not last; logged out): {', '.join(offline[:10])}")
        await interpreter.run(concat(*(on_thread(user, once(
            {"f": "logout", "value": {"user": user}})) for user in offline)))
    return offline


async def _await_convergence(system: System, backend: Backend, dc_names: list[str],
                             clients: UserClients, deadline: float,
                             log_in_again: Callable[[float], Awaitable[bool]] | None = None,
                             ) -> FinalState:
    """Poll `final_state` until `RecoveryWatch` says done or `deadline` (monotonic) passed;
    before each poll, `log_in_again(seconds left)` logs in the users whose session ended (True
    if there were any: then the wait goes on)."""
    watch = RecoveryWatch(QUIET_PERIOD_S)
    while True:
        relogged = log_in_again is not None and time.monotonic() < deadline \
            and await log_in_again(deadline - time.monotonic())
        final = await system.final_state(backend, dc_names)
        now = time.monotonic()
        done = watch.done(final, now, clients.last_delivery) and not relogged
        if done or now >= deadline:
            return final
        await asyncio.sleep(0.2)


class LinkChecks:
    """The run's link verifications (`test.json` `link_checks`: `{at, time, bypasses}`); a
    bypass found at any check fails the run with exit 4 (`raise_bypass`) naming the link.
    `verify_later` checks in a worker thread so that a heal op is not delayed by the scan (the
    nemesis schedule is timed); `raise_bypass` waits for those checks first."""

    def __init__(self, system: System) -> None:
        self.system = system
        self.checks: list[dict[str, Any]] = []
        self._pending: list[concurrent.futures.Future[None]] = []
        self._worker: concurrent.futures.ThreadPoolExecutor | None = None

    def verify_later(self, backend: Any, at: str, now_ns: int) -> None:
        if self._worker is None:
            self._worker = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="imfault-links")
        self._pending.append(self._worker.submit(self.verify, backend, at, now_ns))

    def wait(self) -> None:
        """Wait for the checks `verify_later` queued (call before the backend stops)."""
        for future in self._pending:
            future.result()
        self._pending.clear()
        if self._worker is not None:
            self._worker.shutdown()
            self._worker = None

    def verify(self, backend: Any, at: str, now_ns: int) -> None:
        try:
            bypasses = self.system.verify_links(backend)
        except Exception as exc:  # noqa: BLE001 - an unverifiable link is not a verified one
            bypasses = [f"link verification failed: {type(exc).__name__}: {exc}"]
        self.checks.append({"at": at, "time": now_ns, "bypasses": bypasses})

    def raise_bypass(self, run_dir: Path | None = None) -> None:
        found = list(dict.fromkeys((c["at"], b) for c in self.checks for b in c["bypasses"]))
        if found:
            where = f" (run dir {run_dir})" if run_dir else ""
            lines = "; ".join(f"{at}: {bypass}" for at, bypass in found)
            raise SetupError(f"inter-DC traffic bypassed the WAN, the faults did not apply"
                             f"{where}: {lines}. On the local backend a system that passes peer "
                             "addresses around needs DC isolation; see docs/adding-a-system.md")


__all__ = ["QUIET_PERIOD_S", "RecoveryWatch", "RunOptions", "RunOutcome", "RunState", "SetupError",
           "build_test_json", "check_run_dir", "converged", "exit_code_of", "final_json",
           "merge_event_logs", "run_test"]
