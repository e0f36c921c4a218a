"""Tolerant readers for the files of a run directory (DESIGN §2), for the report.

A run directory may be partial (a crashed harness leaves only `history.jsonl`, perhaps with a
truncated last line), so every reader answers `None` for a missing or unreadable file instead of
raising, and JSONL readers skip lines that do not parse (counting them).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from checkers import _json


@dataclass
class JsonlStats:
    """What a JSONL pass saw: lines parsed and lines skipped as malformed."""

    parsed: int = 0
    skipped: int = 0


CHUNK_BYTES = _json.CHUNK_BYTES  # read and decoded at once: a few MiB of whole lines


def iter_jsonl(path: Path, stats: JsonlStats | None = None) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a JSONL file; malformed or non-object lines are skipped.

    Streams: only a few MiB of the file are held at a time. Decoded by `checkers._json` (msgspec,
    or the stdlib), like the checkers' `load_run`, so both count the same lines as skipped."""
    stats = stats if stats is not None else JsonlStats()
    try:
        handle = path.open("rb")
    except OSError:
        return
    with handle:
        for chunk in _json.iter_chunks(handle, CHUNK_BYTES):
            decoded, bad = _json.decode_lines(chunk)
            stats.skipped += bad
            for obj in decoded:
                if isinstance(obj, dict):
                    stats.parsed += 1
                    yield obj
                else:
                    stats.skipped += 1


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object file, or `None` when missing, unreadable or not an object."""
    try:
        obj = _json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


@dataclass
class RunFiles:
    """Which files of a run directory exist, and the small ones already parsed."""

    run_dir: Path
    test: dict[str, Any] | None
    final: dict[str, Any] | None
    results: dict[str, Any] | None
    has_history: bool
    has_events: bool
    missing: list[str] = field(default_factory=list)

    @property
    def history_path(self) -> Path:
        return self.run_dir / "history.jsonl"

    @property
    def events_path(self) -> Path:
        return self.run_dir / "events.jsonl"


def open_run(run_dir: Path) -> RunFiles:
    """Look at a run directory: parse test/final/results JSON, note which files are absent."""
    run_dir = Path(run_dir)
    names = ["history.jsonl", "test.json", "events.jsonl", "final.json", "results.json"]
    missing = [name for name in names if not (run_dir / name).is_file()]
    return RunFiles(
        run_dir=run_dir,
        test=read_json(run_dir / "test.json"),
        final=read_json(run_dir / "final.json"),
        results=read_json(run_dir / "results.json"),
        has_history=(run_dir / "history.jsonl").is_file(),
        has_events=(run_dir / "events.jsonl").is_file(),
        missing=missing,
    )


def compute_results(run_dir: Path) -> dict[str, Any] | None:
    """Run the checkers on a stored run when the `checkers` package provides them, else `None`."""
    try:
        import checkers
    except ImportError:
        return None
    check_run = getattr(checkers, "check_run", None)
    if check_run is None:
        return None
    try:
        results = check_run(Path(run_dir))
    except Exception:  # a broken checker must not prevent the report  # noqa: BLE001
        return None
    return results if isinstance(results, dict) else None
