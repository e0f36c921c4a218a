"""The loaded history as an `OpLog`: lines decoded straight into compact records for the index,
op dicts decoded only when read, and checking that equals checking the list of op dicts."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest
from test_generated_run import load_generator

from checkers import _ops, check_all, index_history, load_run


def _stdlib_ops_module(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh copy of `checkers._ops` as loaded when msgspec cannot be imported."""
    monkeypatch.setitem(sys.modules, "msgspec", None)  # `import msgspec` raises ImportError
    spec = importlib.util.spec_from_file_location("checkers._ops_stdlib", _ops.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loaded_history_keeps_lines_and_records_not_dicts(tmp_path: Path) -> None:
    load_generator().generate_run(tmp_path, ops=3_000, seed=5, with_events=True)
    run = load_run(tmp_path)
    history = run.history
    assert isinstance(history, _ops.OpLog) and history.records is not None
    assert {item.__class__ for item in history.items} == {bytes}  # no op dict built yet
    lines = (tmp_path / "history.jsonl").read_text(encoding="utf-8").splitlines()
    ops = [json.loads(line) for line in lines]
    assert history == ops and len(history) == len(ops) and history[-1] == ops[-1]
    assert history[:2] == ops[:2]
    first = history.records[2]
    assert (first.time, first.f, first.type, first.process) == tuple(
        ops[2][key] for key in ("time", "f", "type", "process"))
    # the checkers answer exactly as over the list of op dicts, the index alike
    options = run.test
    assert check_all(history, run.events, run.final, options) == check_all(
        ops, run.events, run.final, options)
    by_log, by_list = index_history(history), index_history(ops)
    assert by_log.sends == by_list.sends and by_log.deliveries == by_list.deliveries
    assert by_log.nemesis_ops == by_list.nemesis_ops and by_log.online == by_list.online
    assert by_log.extra_receipts == by_list.extra_receipts
    assert not by_log.sanitised and by_log.history is history


def test_a_chunk_with_a_bad_line_is_decoded_as_before(tmp_path: Path) -> None:
    good = {"time": 1, "process": 0, "type": "invoke", "f": "send",
            "value": {"id": "m1", "from": "a", "to": "b", "dc": "dc1", "extra": [1]}}
    lines = [b'{"time": 0, "f": "x", "value": NaN}', b"not json", b"[1]", b"  ",
             json.dumps(good).encode()]
    (tmp_path / "history.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    run = load_run(tmp_path)
    assert run.skipped_lines["history.jsonl"] == 2  # "not json" and `[1]`
    assert isinstance(run.history, _ops.OpLog) and len(run.history) == 2
    assert run.history[1] == good  # fields the record does not hold are kept
    assert index_history(run.history).sends["m1"][:3] == ["a", "b", "dc1"]


def test_records_without_msgspec_read_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    stdlib = _stdlib_ops_module(monkeypatch)
    ops = [{"time": 5, "process": 1, "type": "ok", "f": "login",
            "value": {"user": "u", "node": "n", "conn": "c"}},
           {"time": 6, "process": "nemesis", "type": "info", "f": "kill", "value": [1]}]
    for fast, slow in zip(_ops.records_of(ops), stdlib.records_of(ops)):
        assert (fast.time, fast.process, fast.type, fast.f) == (
            slow.time, slow.process, slow.type, slow.f)
    login = stdlib.records_of(ops)[0].value
    assert (login.user, login.node, login.conn, login.from_) == ("u", "n", "c", None)
    assert login.dc is stdlib.UNSET
    with pytest.raises(ValueError):
        stdlib.records_of(["not an op"])
    log, skipped = stdlib.decode_oplog(iter([b"\n".join(json.dumps(op).encode() for op in ops)]))
    assert skipped == 0 and list(log) == ops and log.records is not None
