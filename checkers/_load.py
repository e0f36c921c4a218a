"""Reading a run directory (DESIGN §2) into memory for the checkers.

`load_run` reads `history.jsonl`, `events.jsonl`, `final.json` and `test.json` where present.
A missing file becomes `None` so that the checker needing it answers `"unknown"`. A JSONL file of a
crashed run may end in a truncated line: unparsable lines are skipped and counted, never fatal.

Parsing is the bulk of checking a large run. JSONL files are read a few MiB of whole lines at a
time and decoded by `checkers._json`: msgspec, or the stdlib when msgspec cannot be imported, with
the same results and skipped-line counts either way. The history is loaded as an `OpLog`
(`checkers._ops`): each op's line and its compact `Record`, the op dict decoded only when read.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import _json
from ._ops import OpLog, decode_oplog

Op = dict[str, Any]

HISTORY_FILE = "history.jsonl"
EVENTS_FILE = "events.jsonl"
FINAL_FILE = "final.json"
TEST_FILE = "test.json"


@dataclass
class RunData:
    """Everything the checkers read from one run directory (`None` where a file is missing).

    `load_run` gives `history` as an `OpLog` (a sequence of op dicts, equal to their list)."""

    run_dir: Path | None = None
    history: Sequence[Op] | None = None
    events: list[Op] | None = None
    final: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    skipped_lines: dict[str, int] = field(default_factory=dict)


def parse_jsonl(text: str | bytes) -> tuple[list[Any], int]:
    """Parse JSON-lines text (or UTF-8 bytes; a malformed sequence is replaced, as when decoding
    with errors="replace"); returns (objects, number of unparsable lines skipped)."""
    if isinstance(text, bytes):
        return _decode_stream(io.BytesIO(text))
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: the stdlib decodes this text line by line
        return _parse_text_lines(text)
    return _decode_stream(io.BytesIO(data))


def _decode_stream(handle: IO[bytes]) -> tuple[list[Any], int]:
    objects: list[Any] = []
    skipped = 0
    for chunk in _json.iter_chunks(handle):
        parsed, bad = _json.decode_lines(chunk)
        objects.extend(parsed)
        skipped += bad
    return objects, skipped


def _parse_text_lines(text: str) -> tuple[list[Any], int]:
    objects: list[Any] = []
    skipped = 0
    for line in text.split("\n"):
        if line.strip():
            try:
                objects.append(json.loads(line))
            except ValueError:
                skipped += 1
    return objects, skipped


def read_jsonl(path: Path) -> tuple[list[Any], int] | None:
    """Read a JSONL file, or `None` if it does not exist. Streams: only a few MiB of the file's
    bytes are held at a time, besides the parsed objects."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        return _decode_stream(handle)


def read_history(path: Path) -> tuple[OpLog, int] | None:
    """Read a history file as an `OpLog` (and the number of lines skipped: unparsable, or not an
    object), or `None` if it does not exist. Streams like `read_jsonl`."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return None
    with handle:
        return decode_oplog(_json.iter_chunks(handle))


def _objects_only(items: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """Drop JSON values that are not objects (a line like `[1]` or `3`); returns (kept, dropped)."""
    if set(map(type, items)) <= {dict}:  # the usual case, checked at C speed
        return items, 0
    kept = [item for item in items if isinstance(item, dict)]
    return kept, len(items) - len(kept)


def read_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON object file, or `None` if it is missing, unparsable or not an object."""
    try:
        data = _json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_run(run_dir: str | Path) -> RunData:
    """Load a run directory; files that are absent (or unreadable JSON objects) become `None`."""
    directory = Path(run_dir)
    run = RunData(run_dir=directory)
    history = read_history(directory / HISTORY_FILE)
    if history is not None:
        run.history, run.skipped_lines[HISTORY_FILE] = history
    events = read_jsonl(directory / EVENTS_FILE)
    if events is not None:
        evs, skipped = events
        run.events, dropped = _objects_only(evs)
        run.skipped_lines[EVENTS_FILE] = skipped + dropped
    run.final = read_json(directory / FINAL_FILE)
    run.test = read_json(directory / TEST_FILE)
    return run


def release_run(run: RunData, index: Any = None) -> None:
    """Free a loaded run's history and events now, emptying their lists (`run` keeps the rest),
    and the containers of `index` (a `HistoryIndex` of that history, emptied too).

    Freeing a million parsed ops is a noticeable part of checking a big run; CPython frees a list's
    items last to first, which on a heap filled first to last costs about twice as long (measured:
    0.29 s vs 0.15 s for 1,000,000 ops), so the lists are reversed first. Other holders of these
    lists see them empty.
    """
    if index is not None:  # first: it holds references into the history
        for value in vars(index).values():
            if isinstance(value, list):
                value.reverse()
                value.clear()
            elif isinstance(value, (dict, set)):
                value.clear()
    for items in (run.history, run.events):
        if isinstance(items, (list, OpLog)):
            items.reverse()
            items.clear()
    run.history = run.events = None
