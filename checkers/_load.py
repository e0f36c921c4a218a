"""Reading a run directory (DESIGN §2) into memory for the checkers.

`load_run` reads `history.jsonl`, `events.jsonl`, `final.json` and `test.json` where present.
A missing file becomes `None` so that the checker needing it answers `"unknown"`. A JSONL file of a
crashed run may end in a truncated line: unparsable lines are skipped and counted, never fatal.

Parsing is the bulk of checking a large run, so JSONL is parsed in chunks of a few MiB of the
file's bytes: each chunk's newlines become commas, making one JSON array decoded by a single
`json.loads` call (the C decoder and scanner, no Python loop per line); only a chunk that fails to
parse (a broken line, or bytes that are not UTF-8) is re-read line by line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Op = dict[str, Any]

HISTORY_FILE = "history.jsonl"
EVENTS_FILE = "events.jsonl"
FINAL_FILE = "final.json"
TEST_FILE = "test.json"

_CHUNK_CHARS = 2 << 20


@dataclass
class RunData:
    """Everything the checkers read from one run directory (`None` where a file is missing)."""

    run_dir: Path | None = None
    history: list[Op] | None = None
    events: list[Op] | None = None
    final: dict[str, Any] | None = None
    test: dict[str, Any] | None = None
    skipped_lines: dict[str, int] = field(default_factory=dict)


def _parse_lines_one_by_one(lines: list[str] | list[bytes]) -> tuple[list[Any], int]:
    parsed: list[Any] = []
    skipped = 0
    for line in lines:
        if isinstance(line, bytes):
            line = line.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        try:
            parsed.append(json.loads(line))
        except ValueError:
            skipped += 1
    return parsed, skipped


def parse_jsonl(text: str | bytes) -> tuple[list[Any], int]:
    """Parse JSON-lines text (or UTF-8 bytes; a malformed sequence is replaced, as when decoding
    with errors="replace"); returns (objects, number of unparsable lines skipped)."""
    if isinstance(text, bytes):
        return _parse_chunks(text, b"\n", b",", b"[", b"]")
    return _parse_chunks(text, "\n", ",", "[", "]")


def _parse_chunks(text: Any, newline: Any, comma: Any, open_: Any, close: Any
                  ) -> tuple[list[Any], int]:
    objects: list[Any] = []
    skipped = 0
    start = 0
    length = len(text)
    while start < length:
        end = text.find(newline, min(start + _CHUNK_CHARS, length))
        end = length if end < 0 else end + 1
        chunk = text[start:end].strip()
        start = end
        if not chunk:
            continue
        try:
            # json.loads decodes bytes itself (UTF-8, strict: a bad sequence falls back below)
            parsed = json.loads(open_ + chunk.replace(newline, comma) + close)
        except ValueError:  # a blank or broken line somewhere in this chunk
            parsed, bad = _parse_lines_one_by_one(chunk.split(newline))
            skipped += bad
        objects.extend(parsed)
    return objects, skipped


def read_jsonl(path: Path) -> tuple[list[Any], int] | None:
    """Read a JSONL file, or `None` if it does not exist."""
    try:
        # bytes, parsed as bytes: no newline translation and no separate decoding pass
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    return parse_jsonl(data)


def _objects_only(items: list[Any]) -> tuple[list[dict[str, Any]], int]:
    """Drop JSON values that are not objects (a line like `[1]` or `3`); returns (kept, dropped)."""
    if set(map(type, items)) <= {dict}:  # the usual case, checked at C speed
        return items, 0
    kept = [item for item in items if isinstance(item, dict)]
    return kept, len(items) - len(kept)


def read_json(path: Path) -> dict[str, Any] | None:
    """Read a JSON object file, or `None` if it is missing, unparsable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    except (FileNotFoundError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load_run(run_dir: str | Path) -> RunData:
    """Load a run directory; files that are absent (or unreadable JSON objects) become `None`."""
    directory = Path(run_dir)
    run = RunData(run_dir=directory)
    history = read_jsonl(directory / HISTORY_FILE)
    if history is not None:
        ops, skipped = history
        run.history, dropped = _objects_only(ops)
        run.skipped_lines[HISTORY_FILE] = skipped + dropped
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
        if items is not None:
            items.reverse()
            items.clear()
    run.history = run.events = None
