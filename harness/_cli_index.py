"""`imfault index [--store DIR] [--markdown FILE]`: the store's static `index.html` (and a Markdown
summary) for CI artifacts; and `refresh_index`, which `imfault run`, `imfault check` and the
pytest plugin call at their end.

The index reads only `test.json` and `results.json` of each run, so refreshing it is cheap (1,000
runs: 0.3-0.4 s of CPU; benchmarks/index_speed.py). A
failure to write it never changes a verdict or an exit code: it is reported and ignored.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .errors import UsageError
from .store import DEFAULT_STORE

__all__ = ["add_index_parser", "handle_index", "refresh_index", "store_of_run_dir"]


def add_index_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "index", help="write the store's self-contained index.html (for CI artifacts)",
        description="Write <store>/index.html: every run newest first with its verdict, options "
                    "and key numbers, linking each report by a relative path (works from an "
                    "unpacked artifact, no server). With --markdown, also a Markdown table of "
                    "the runs.")
    parser.add_argument("--store", type=Path, default=Path(DEFAULT_STORE),
                        help="store directory (default store/)")
    parser.add_argument("--markdown", type=Path, default=None, metavar="FILE",
                        help="also write a Markdown summary of the store's runs to FILE "
                             "('-' for stdout)")
    return parser


def handle_index(args: argparse.Namespace) -> int:
    import reports

    store: Path = args.store
    if not store.is_dir():
        raise UsageError(f"store {store} does not exist (run `imfault run` first or pass "
                         "--store)")
    rows = reports.scan_store(store)
    path = reports.write_index(store, rows)
    counts = {v: sum(1 for row in rows if row.verdict == v) for v in ("invalid", "unknown",
                                                                    "valid")}
    print(f"index: {path} ({len(rows)} runs: {counts['invalid']} invalid, "
          f"{counts['unknown']} unknown, {counts['valid']} valid)", flush=True)
    if args.markdown is not None:
        text = reports.markdown_summary(rows, f"imfault runs in {store}", base=Path.cwd())
        if str(args.markdown) == "-":
            print(text, end="")
        else:
            args.markdown.write_text(text, encoding="utf-8")
            print(f"markdown: {args.markdown}", flush=True)
    return 0


def store_of_run_dir(run_dir: Path) -> Path | None:
    """The store a run directory belongs to (`<store>/<name>/<stamp>`), if it looks like one: the
    grandparent with a `latest` link or an index already; else None (no index is written)."""
    store = Path(run_dir).resolve().parent.parent
    if (store / "latest").is_symlink() or (store / "index.html").is_file():
        return store
    return None


def refresh_index(store: Path | str | None, say: Callable[[str], None] = print) -> Path | None:
    """Rewrite `<store>/index.html`; report (never raise) a failure. Skipped with
    IMFAULT_NO_INDEX=1."""
    if store is None or os.environ.get("IMFAULT_NO_INDEX") == "1" or not Path(store).is_dir():
        return None
    try:
        from reports import write_index
    except ImportError:
        return None
    try:
        path = write_index(Path(store))
    except Exception as exc:  # noqa: BLE001 - the index is a convenience; the verdict stands
        say(f"index not written: {type(exc).__name__}: {exc}")
        return None
    say(f"index: {path}")
    return path
