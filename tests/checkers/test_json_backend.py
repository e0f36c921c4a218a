"""`checkers._json`: msgspec when importable, the stdlib when not, with the same objects and the
same skipped-line counts in `load_run`, `parse_jsonl` and the report's `iter_jsonl`."""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkers import _json, load_run, parse_jsonl
from reports import _runfiles
from reports._runfiles import JsonlStats, iter_jsonl

GOOD = [{"index": i, "type": "invoke" if i % 2 else "ok", "value": {"to": f"u{i}", "t": i / 3}}
        for i in range(50)]

# blank and whitespace-only lines are ignored; "not json" and the cut last line are skipped;
# `[1, 2]` parses but is not an op; bad UTF-8 is replaced; NaN, a lone surrogate escape and a
# 100-bit integer are what the stdlib makes of them
MESSY = b"\n".join([
    json.dumps(GOOD[0]).encode(),
    b"",
    b"not json",
    b"[1, 2]",
    b'{"index": 1, "bad": "\xff"}',
    b'{"index": 2, "x": NaN}',
    b'{"index": 3, "s": "\\ud800"}',
    b'{"index": 4, "big": 1267650600228229401496703205376}',
    b"   ",
    b'{"index": 5, "cut',
])


@pytest.fixture(params=["msgspec", "json"])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test runs with msgspec and with msgspec's import failing (the stdlib fallback)."""
    if request.param == "json":
        monkeypatch.setitem(sys.modules, "msgspec", None)  # `import msgspec` raises ImportError
        importlib.reload(_json)
    try:
        assert _json.BACKEND == request.param
        yield str(request.param)
    finally:
        monkeypatch.undo()
        importlib.reload(_json)
    assert _json.BACKEND == "msgspec"


def _check_messy(objects: list[object]) -> None:
    ops = [obj for obj in objects if isinstance(obj, dict)]
    assert [op["index"] for op in ops] == [0, 1, 2, 3, 4]
    assert ops[0] == GOOD[0]
    assert ops[1]["bad"] == "\ufffd"
    assert math.isnan(ops[2]["x"])
    assert ops[3]["s"] == "\ud800"
    assert ops[4]["big"] == 2**100 and isinstance(ops[4]["big"], int)


def test_parse_jsonl_counts_malformed_lines_as_before(backend: str) -> None:
    objects, skipped = parse_jsonl(MESSY)
    assert skipped == 2  # "not json" and the cut last line
    assert [1, 2] in objects
    _check_messy(objects)


@pytest.mark.parametrize("chunk_bytes", [16, 1 << 20])
def test_load_run_and_iter_jsonl_agree(backend: str, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch, chunk_bytes: int) -> None:
    monkeypatch.setattr(_runfiles, "CHUNK_BYTES", chunk_bytes)
    (tmp_path / "history.jsonl").write_bytes(MESSY)
    run = load_run(tmp_path)
    assert run.history is not None
    assert run.skipped_lines["history.jsonl"] == 3  # two unparsable lines and `[1, 2]`
    _check_messy(list(run.history))
    stats = JsonlStats()
    streamed = list(iter_jsonl(tmp_path / "history.jsonl", stats))
    assert stats.parsed == 5 and stats.skipped == 3
    _check_messy(list(streamed))


def test_good_lines_decode_alike_in_both_backends(backend: str, tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text("".join(json.dumps(op) + "\n" for op in GOOD), encoding="utf-8")
    run = load_run(path.parent)
    assert run.history == GOOD and run.skipped_lines["history.jsonl"] == 0
    # same types too (ints stay ints, floats floats), in the same key order
    assert json.dumps(list(run.history)) == json.dumps(GOOD)
    assert _json.loads(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert _json.loads('{"x": NaN}')["x"] != 0  # the stdlib's extension, also via msgspec
