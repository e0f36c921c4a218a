"""`imfault report RUN_DIR` (re-render a run's report.html) and `imfault serve` (browse a store).

`report` uses the run's `results.json`; without one it runs the checkers in memory (it does not
write results.json: that is `imfault check`). It prints the verdict table and the report's path and
exits with the verdict's code (0 valid, 1 invalid, 3 unknown; 2 when RUN_DIR is not a directory).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .errors import UsageError

__all__ = ["add_report_parser", "add_serve_parser", "handle_report", "handle_serve"]

_EXIT_BY_VERDICT = {"valid": 0, "invalid": 1, "unknown": 3}


def add_report_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report", help="render RUN_DIR/report.html again from the run's files",
        description="Render a run's self-contained report.html from its results.json (or run the "
                    "checkers when it has none) and print the verdict table.")
    parser.add_argument("run_dir", metavar="RUN_DIR", type=Path, help="a run directory")
    return parser


def handle_report(args: argparse.Namespace) -> int:
    import reports
    from reports._runfiles import compute_results, read_json

    run_dir: Path = args.run_dir
    if not run_dir.is_dir():
        raise UsageError(f"{run_dir} is not a run directory")
    results = read_json(run_dir / "results.json")
    if results is None:
        results = compute_results(run_dir)
    path = reports.write_report(run_dir, results)
    reports.print_summary(results or {}, run_dir=run_dir)
    print(f"report: {path}", flush=True)
    return _EXIT_BY_VERDICT[reports.overall_verdict(results)]


def add_serve_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="browse the runs of a store in a web browser",
        description="Serve a list of the store's runs, newest first and coloured by verdict, with "
                    "links to their reports. Ctrl-C stops it.")
    parser.add_argument("--store", type=Path, default=Path("store"), help="store directory "
                        "(default: store)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default 8000; 0 = any "
                        "free port)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    return parser


def handle_serve(args: argparse.Namespace) -> int:
    from reports import serve

    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port {args.port} is not a TCP port")
    if not args.store.is_dir():
        raise UsageError(f"store {args.store} does not exist (run `imfault run` first or "
                         "pass --store)")
    serve(args.store, host=args.host, port=args.port)
    return 0
