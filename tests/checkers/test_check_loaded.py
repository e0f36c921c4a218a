"""`check_loaded` (check a loaded run, keep its index), `release_run`, and JSONL parsed as bytes."""

from __future__ import annotations

import gc
import json
from pathlib import Path

from checkers import (
    HistoryIndex,
    check_loaded,
    check_run,
    gc_paused,
    load_run,
    parse_jsonl,
    release_run,
)

OPS = [
    {"index": 0, "time": 0, "process": 1, "type": "invoke", "f": "login",
     "value": {"user": "b", "dc": "dc1"}},
    {"index": 0, "time": 0, "process": 1, "type": "ok", "f": "login",
     "value": {"user": "b", "dc": "dc1", "node": "dc1-a1", "conn": "c1"}},
    {"index": 0, "time": 0, "process": 0, "type": "invoke", "f": "send",
     "value": {"id": "m1", "from": "a", "to": "b", "dc": "dc1"}},
    {"index": 1, "time": 5, "process": 0, "type": "ok", "f": "send",
     "value": {"id": "m1", "from": "a", "to": "b", "dc": "dc1"}},
    {"index": 2, "time": 9, "process": 0, "type": "invoke", "f": "send",
     "value": {"id": "m2", "from": "a", "to": "b", "dc": "dc1"}},
    {"index": 3, "time": 12, "process": 0, "type": "ok", "f": "send",
     "value": {"id": "m2", "from": "a", "to": "b", "dc": "dc1"}},
    {"index": 4, "time": 20, "process": 1, "type": "ok", "f": "recv",
     "value": {"user": "b", "id": "m1", "from": "a", "to": "b", "dc": "dc1", "via": "online"}},
]


def _write_run(run_dir: Path, tail: str = "") -> None:
    lines = "".join(json.dumps(op) + "\n" for op in OPS)
    (run_dir / "history.jsonl").write_text(lines + tail, encoding="utf-8")
    (run_dir / "test.json").write_text(json.dumps({"dc_names": ["dc1"]}), encoding="utf-8")


def test_check_loaded_answers_as_check_run_and_keeps_the_index(tmp_path: Path) -> None:
    _write_run(tmp_path, tail='{"index": 5, "ti')  # a crashed run's cut last line
    run = load_run(tmp_path)
    results, index = check_loaded(run)
    assert results == check_run(tmp_path)
    assert results["delivery"]["lost"] == ["m2"]
    assert results["stats"]["skipped_lines"] == {"history.jsonl": 1}
    assert isinstance(index, HistoryIndex) and index.history is run.history
    assert list(index.sends) == ["m1", "m2"]


def test_check_loaded_without_history(tmp_path: Path) -> None:
    (tmp_path / "events.jsonl").write_text("", encoding="utf-8")
    results, index = check_loaded(load_run(tmp_path))
    assert index is None
    assert results["delivery"]["valid"] == "unknown"


def test_release_run_empties_the_lists(tmp_path: Path) -> None:
    _write_run(tmp_path)
    (tmp_path / "events.jsonl").write_text('{"event": "apply"}\n', encoding="utf-8")
    with gc_paused():
        run = load_run(tmp_path)
        history = run.history
        assert history is not None and len(history) == len(OPS)
        results, index = check_loaded(run)
        release_run(run)
        assert gc.isenabled() is False
    assert history == [] and run.history is None and run.events is None
    assert index is not None and index.history == []  # the index shared the list
    assert results["valid"] is False


def test_parse_jsonl_bytes_equals_text_also_with_bad_lines_and_bad_utf8() -> None:
    good = [json.dumps(op) for op in OPS]
    text = "\n".join([good[0], "", "not json", good[1], "[3]", good[2], '{"x": "caf\u00e9"}', ""])
    raw = text.encode("utf-8")
    assert parse_jsonl(raw) == parse_jsonl(text)
    assert parse_jsonl(raw)[1] == 1  # "not json"; `[3]` parses (load_run drops non-objects)
    broken = b'{"id": "\xff\xfe"}\n' + good[5].encode() + b"\n"
    parsed, skipped = parse_jsonl(broken)
    assert skipped == 0
    assert parsed[0] == {"id": "\ufffd\ufffd"}  # decoded as errors="replace" would
    assert parsed[1] == OPS[5]
