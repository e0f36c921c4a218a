"""`iter_jsonl`: streaming in blocks never splits a line, and bad lines are skipped and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reports import _runfiles
from reports._runfiles import JsonlStats, iter_jsonl


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_blocks_never_split_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  block: int) -> None:
    monkeypatch.setattr(_runfiles, "CHUNK_BYTES", block)
    objects = [{"index": i, "text": "x" * (i % 13), "caf\u00e9": i} for i in range(200)]
    path = tmp_path / "h.jsonl"
    lines = [json.dumps(obj) for obj in objects]
    lines.insert(50, "")  # a blank line
    lines.insert(90, "not json")
    lines.insert(120, "[1, 2]")  # JSON, not an object
    raw = ("\n".join(lines) + "\n").encode() + b'{"index": 999, "bad": "\xff"}\n{"index": 10'
    path.write_bytes(raw)
    stats = JsonlStats()
    read = list(iter_jsonl(path, stats))
    assert read[:200] == objects
    assert read[200] == {"index": 999, "bad": "\ufffd"}  # like errors="replace"
    assert len(read) == 201 and stats.parsed == 201
    assert stats.skipped == 3  # "not json", [1, 2], the cut last line


def test_missing_file_yields_nothing(tmp_path: Path) -> None:
    assert list(iter_jsonl(tmp_path / "absent.jsonl")) == []
