"""`imfault run`, `imfault check RUN_DIR` and `imfault clean` (DESIGN §2 "Command line").

Registered in `harness/cli.py`'s `SUBCOMMANDS` as `add_run_parser`/`handle_run`,
`add_check_parser`/`handle_check`, `add_clean_parser`/`handle_clean`.
"""

from __future__ import annotations

import argparse
import gc
import os
import secrets
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ._options import add_run_arguments, options_from_namespace
from .errors import SetupError, UsageError
from .store import DEFAULT_STORE, write_json


def add_run_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("run", help="run a test: workload + nemesis against a cluster",
                              description="Run one test and check it. Times in ms except "
                              "--time-limit, --nemesis-interval and --recovery-timeout (s).")
    add_run_arguments(p)  # every run option, from the schema (harness/_options.py)
    p.add_argument("--no-progress", action="store_true", help="no live progress display")
    return p


def options_from_args(args: argparse.Namespace) -> Any:
    """Validate the parsed options (UsageError with a clear message) into `RunOptions`; with
    `--schedule`, the workload shape, seed and nemeses come from the schedule file."""
    from .nemesis import get_nemesis, parse_nemesis_names

    values = vars(args)
    if args.schedule:
        from .schedule_file import apply_schedule_file
        values = apply_schedule_file(values, args.schedule)
    options = options_from_namespace(values, fill={"seed": lambda: secrets.randbelow(2**31)})
    options.nemesis = parse_nemesis_names(options.nemesis)
    get_nemesis(options.nemesis)  # UsageError listing the known names if one is unknown
    return options


def handle_run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ._progress import LiveProgress
    from ._signals import terminate_as_interrupt
    from .runner import RunState, run_test

    options = options_from_args(args)
    console = Console()
    console.print(f"imfault run: seed [bold]{options.seed}[/bold]  "
                  f"({options.dcs} DCs, {options.users} users, nemesis "
                  f"{','.join(options.nemesis) or 'none'})")
    state = RunState()
    with terminate_as_interrupt():  # to the last line printed: a SIGTERM exits 130 throughout
        try:
            with LiveProgress(state, console, enabled=not args.no_progress):
                outcome = run_test(options, state, say=lambda m: console.print(m, markup=False))
        except (UsageError, SetupError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001 - a harness failure is not a verdict on the SUT
            traceback.print_exc()
            print(f"imfault: infrastructure error during the {state.phase} phase: "
                  f"{type(exc).__name__}: {exc}\nThe cluster was stopped; `imfault clean` "
                  "removes anything left over. Please report this with the traceback above.",
                  file=sys.stderr)
            return 4
        if state.first_op_at is not None:
            console.print(f"first op {state.first_op_at - state.started:.2f} s after start")
        _print_summary(outcome.results, console, outcome.run_dir)
        _refresh_index(options.store, console)
    return outcome.exit_code


def _refresh_index(store: Path | str | None, console: Any) -> None:
    from ._cli_index import refresh_index
    refresh_index(store, lambda message: console.print(message, markup=False, highlight=False))


def _print_summary(results: dict[str, Any], console: Any, run_dir: Path) -> None:
    try:
        from reports import print_summary
    except ImportError:
        console.print(f"valid: {results.get('valid')}")
        console.print(f"run directory: {run_dir}")
        return
    print_summary(results, console, run_dir)


# ---------------------------------------------------------------- check

def add_check_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("check", help="re-run the checkers on a stored run",
                              description="Re-check RUN_DIR (only history.jsonl is required); "
                              "rewrites results.json and report.html.")
    p.add_argument("run_dir", metavar="RUN_DIR")
    return p


def handle_check(args: argparse.Namespace) -> int:
    from rich.console import Console

    from .cli import EXIT_INVALID, EXIT_UNKNOWN, EXIT_VALID  # not .runner: it imports asyncio
    run_dir = Path(args.run_dir)
    if not (run_dir / "history.jsonl").is_file():
        raise UsageError(f"{run_dir} has no history.jsonl: not a run directory")
    console = Console()
    # the process's own entry (`imfault check`, not `main([...])` in-process): the parsed run is
    # left alive and the process ends with os._exit once every file and stream is written, so
    # the millions of objects of a big run are never freed one by one (~1 s at 1M ops)
    kept: list[Any] | None = [] if getattr(args, "process_entry", False) else None
    results = _check_and_report(run_dir, console, kept)
    _print_summary(results, console, run_dir)
    from ._cli_index import store_of_run_dir
    _refresh_index(store_of_run_dir(run_dir), console)
    valid = results.get("valid")
    code = EXIT_VALID if valid is True else EXIT_INVALID if valid is False else EXIT_UNKNOWN
    if kept is not None:
        console.file.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _check_and_report(run_dir: Path, console: Any,
                      kept: list[Any] | None = None) -> dict[str, Any]:
    """Check the run, write `results.json`, then `report.html` from the same parsed history.

    The run is parsed once: the checkers' loaded run and history index go to the report too. It
    all happens with the cyclic collector paused (millions of acyclic containers) and the run is
    freed before it resumes, or, given `kept`, appended to it and never freed (the caller ends
    the process without freeing). Without the `checkers` package: the runner's fallback.
    """
    try:
        import checkers
    except ImportError:
        from .runner import check_run_dir, write_report
        results = check_run_dir(run_dir)
        write_json(run_dir / "results.json", results)
        _report(console, write_report, run_dir, results)
        return results
    try:
        import reports
    except ImportError:
        reports = None  # type: ignore[assignment]
    with checkers.gc_paused():
        run = checkers.load_run(run_dir)
        prepared: list[Any] = []
        results, index = checkers.check_loaded(
            run, meanwhile=None if reports is None else _preparer(reports, run_dir, run, prepared))
        write_json(run_dir / "results.json", results)
        if reports is not None:
            _report(console, reports.write_report, run_dir, results, run=run, index=index,
                    prepared=prepared[0] if prepared else None)
        if kept is not None:
            kept.append((run, index))
            gc.freeze()  # out of the collector's sight: its passes up to the exit skip them
        else:
            checkers.release_run(run, index)  # freed now, while the collector is still paused
        del run, index
    return results


def _preparer(reports: Any, run_dir: Path, run: Any,
              prepared: list[Any]) -> Callable[[dict[str, Any], Any], None]:
    """`check_loaded`'s `meanwhile`: the report's history digest (`reports.prepare_report`) built
    while a forked child runs other checkers, appended to `prepared`."""
    def prepare(partial: dict[str, Any], index: Any) -> None:
        try:
            prepared.append(reports.prepare_report(run_dir, partial.get("delivery"), run=run,
                                                   index=index))
        except Exception:  # noqa: BLE001, S110 (write_report builds it again, reports its error)
            pass
    return prepare


def _report(console: Any, write: Callable[..., Any], run_dir: Path, results: dict[str, Any],
            **preloaded: Any) -> None:
    try:
        write(run_dir, results, **preloaded)
    except Exception as exc:  # noqa: BLE001 - the verdict still stands
        console.print(f"report failed: {type(exc).__name__}: {exc}", markup=False)


# ---------------------------------------------------------------- clean

def add_clean_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser("clean", help="remove leftovers of earlier runs",
                              description="Stop processes recorded in pids.json files of "
                              "earlier runs (under the store and the default work dirs) whose "
                              "harness is gone; each pid is killed only if it still runs one of "
                              "our commands.")
    p.add_argument("--store", default=DEFAULT_STORE)
    p.add_argument("--work-dir", action="append", default=[], help="more dirs to search")
    p.add_argument("--dry-run", action="store_true", help="only list what would be stopped")
    p.add_argument("--no-temp", action="store_true",
                   help="do not search the temp dir's imfault-cluster-* work dirs")
    p.add_argument("--no-docker", action="store_true",
                   help="do not sweep Docker containers/networks (and swarm services, secrets, "
                   "configs, volumes) labelled imfault.run")
    return p


def _pid_files(roots: list[Path]) -> Iterator[Path]:
    for root in roots:
        if root.is_dir():
            yield from root.rglob("pids.json")


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def is_our_process(pid: int, name: str, command: str | None = None) -> bool:
    """True if `pid` runs one of the commands the harness starts (node or toxiproxy; `command`:
    the program the run recorded for it, e.g. `nats-server`)."""
    cmd = _cmdline(pid)
    if not cmd:
        return False
    if command:
        return command in cmd
    if name.startswith("toxiproxy"):
        return "toxiproxy" in cmd
    return "imcluster" in cmd


def _undo_leftovers(record: dict[str, Any], path: Path, dry_run: bool) -> int:
    """Delete the firewall rules and temp dirs a `--system nats` local run recorded (each only
    if it is still there and has the shape that backend makes); returns how many."""
    from .systems.nats._local import SHARED_PREFIX, delete_rule

    undone = 0
    for rule in record.get("iptables") or []:
        if isinstance(rule, list) and all(isinstance(part, str) for part in rule):
            print(f"{'would delete' if dry_run else 'delete'} iptables rule "
                  f"{' '.join(rule)} ({path})")
            if not dry_run and delete_rule(rule):
                undone += 1
    temp = Path(tempfile.gettempdir()).resolve()
    for name in record.get("dirs") or []:
        folder = Path(str(name))
        if folder.parent.resolve() != temp or not folder.name.startswith(SHARED_PREFIX) \
                or not folder.is_dir():
            continue
        print(f"{'would remove' if dry_run else 'remove'} {folder} ({path})")
        if not dry_run:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
            undone += 1
    return undone


def _harness_alive(pid: Any) -> bool:
    from ._procs import pid_alive

    if not isinstance(pid, int) or pid == os.getpid() or not pid_alive(pid):
        return False
    cmd = _cmdline(pid)
    # an unreadable command line (process starting or exiting) counts as alive: be careful
    return not cmd or any(w in cmd for w in ("imfault", "harness", "pytest"))


def handle_clean(args: argparse.Namespace) -> int:
    import json

    from ._procs import stop_pid
    roots = [Path(args.store)] + [Path(d) for d in args.work_dir]
    if not args.no_temp:
        roots += sorted(Path(tempfile.gettempdir()).glob("imfault-cluster-*"))
    stopped = skipped = undone = 0
    for path in _pid_files(roots):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _harness_alive(record.get("harness_pid")):
            print(f"skip {path}: its run is still going (harness pid {record['harness_pid']})")
            skipped += 1
            continue
        commands = record.get("commands") or {}
        for name, pid in sorted(record.get("pids", {}).items()):
            if not isinstance(pid, int) or not is_our_process(pid, name, commands.get(name)):
                continue
            print(f"{'would stop' if args.dry_run else 'stop'} {name} pid {pid} ({path})")
            if not args.dry_run:
                stop_pid(pid, grace=2.0)
                stopped += 1
        undone += _undo_leftovers(record, path, args.dry_run)
        if not args.dry_run:
            try:
                path.unlink()
            except OSError:
                pass
    print(f"clean: stopped {stopped} process(es), undid {undone} firewall rule(s)/dir(s); "
          f"{skipped} live run(s) left alone")
    if not args.no_docker:
        _clean_docker(args.dry_run)
    return 0


def _clean_docker(dry_run: bool) -> None:
    """Remove containers and networks of earlier docker runs (spares live runs); skipped when
    no Docker engine answers."""
    try:
        from .backends._docker_engine import HARNESS_PID_LABEL, RUN_LABEL, docker_client
        from .backends.docker import clean_leftovers
        if dry_run:
            client = docker_client()
            try:
                found = client.containers.list(all=True, filters={"label": RUN_LABEL})
                for container in found:
                    pid = container.labels.get(HARNESS_PID_LABEL, "")
                    live = pid.isdigit() and _harness_alive(int(pid))
                    verb = "would keep (live run)" if live else "would remove"
                    print(f"{verb} container {container.name} "
                          f"({container.labels.get(RUN_LABEL)})")
            finally:
                client.close()
            return
        from .backends.swarm import clean_leftovers as clean_swarm_leftovers
        removed = clean_swarm_leftovers()  # services first: they hold overlays and volumes
        for kind, count in clean_leftovers().items():
            removed[kind] = removed.get(kind, 0) + count
    except ImportError as exc:
        print(f"docker: skipped ({exc})")
        return
    except Exception as exc:  # noqa: BLE001 - SetupError: no engine answers
        print(f"docker: skipped ({type(exc).__name__}: {exc})")
        return
    swarm = ", ".join(f"{removed[kind]} {kind[:-1]}(s)" for kind in
                      ("services", "secrets", "configs", "volumes") if removed.get(kind))
    print(f"docker: removed {removed.get('containers', 0)} container(s), "
          f"{removed.get('networks', 0)} network(s){', ' + swarm if swarm else ''}")


__all__ = ["add_check_parser", "add_clean_parser", "add_run_parser", "handle_check",
           "handle_clean", "handle_run", "is_our_process", "options_from_args"]
