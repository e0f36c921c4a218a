"""HistoryWriter (flushed, monotone, thread-safe) and ProcessTable (Jepsen's info rule)."""

import json
import threading

from harness.history import HistoryWriter, ProcessTable, read_history
from harness.ops import Op


def test_lines_are_flushed_as_they_happen(tmp_path):
    path = tmp_path / "history.jsonl"
    writer = HistoryWriter(path)
    writer.record(0, "invoke", "login", {"user": "u001", "dc": "dc1"})
    # readable before close: a crashed run can still be checked
    lines = path.read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["f"] == "login"
    writer.close()


def test_index_and_time_monotone_under_threads(tmp_path):
    writer = HistoryWriter(tmp_path / "h.jsonl")

    def work(p):
        for _ in range(200):
            writer.record(p, "ok", "recv", {"user": "u", "id": "m", "from": "a", "to": "u",
                                            "dc": "dc1", "via": "online"})

    threads = [threading.Thread(target=work, args=(p,)) for p in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    writer.close()
    ops = list(read_history(tmp_path / "h.jsonl"))
    assert [op.index for op in ops] == list(range(1600))
    times = [op.time for op in ops]
    assert times == sorted(times) and times[0] >= 0


def test_append_stamps_index_and_time(tmp_path):
    writer = HistoryWriter(tmp_path / "h.jsonl", start_ns=0)
    recorded = writer.append(Op(-1, 0, 1, "invoke", "send", {}))
    assert recorded.index == 0 and recorded.time > 0
    writer.close()


def test_read_history_skips_torn_last_line(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_text('{"index":0,"time":1,"process":0,"type":"invoke","f":"send","value":{}}\n'
                    '{"index":1,"time":2,"proc')
    assert len(list(read_history(path))) == 1


def test_info_gives_thread_a_fresh_process_but_nemesis_keeps_its_own():
    table = ProcessTable(["u001", "u002", "nemesis"])
    assert table.process("u001") == 0 and table.process("u002") == 1
    assert table.process("nemesis") == "nemesis"
    fresh = table.crashed("u001")
    assert fresh == 2 and table.process("u001") == 2 and table.thread(2) == "u001"
    assert table.thread(0) == "u001"  # old ids still resolve (late recv ops)
    assert table.crashed("nemesis") == "nemesis"


def test_lines_are_the_stdlib_json_lines(tmp_path) -> None:
    """msgspec writes the lines; where its bytes would differ (non-ASCII text), the stdlib's
    `ensure_ascii` line is written instead."""
    values: list[object] = [{"user": "u001", "n": 7, "ok": True, "none": None, "list": [1, "a"]},
                            {"body": "héllo ☃"}, 2.5, "plain", {"big": 2**70}]
    path = tmp_path / "history.jsonl"
    with HistoryWriter(path, clock=lambda: 5, start_ns=0) as writer:
        for value in values:
            writer.record(1, "invoke", "send", value)
    lines = path.read_text(encoding="ascii").splitlines()
    for index, (line, value) in enumerate(zip(lines, values, strict=True)):
        expected = {"index": index, "time": 5, "process": 1, "type": "invoke", "f": "send",
                    "value": value}
        assert line == json.dumps(expected, separators=(",", ":"))


def test_a_value_json_cannot_encode_is_refused(tmp_path) -> None:
    import pytest

    with HistoryWriter(tmp_path / "history.jsonl", clock=lambda: 5, start_ns=0) as writer, \
            pytest.raises(TypeError):
        writer.record(1, "invoke", "send", {1, 2})


def test_each_line_is_what_json_dumps_writes(tmp_path):
    """The writer's encoder (the C encoder built once) writes exactly `json.dumps`'s text."""
    values = [{"user": "u001", "dc": "dc1"}, {"id": "m\u00e9\u2603\"\\\n", "to": None},
              [1, 2.5, -0.0, 1e300, True, False], {"nested": {"a": [{"b": 1}], "c": ""}},
              "text", 7, None, {"n": float("inf")}]
    path = tmp_path / "h.jsonl"
    writer = HistoryWriter(path, start_ns=0, clock=lambda: 5)
    for i, value in enumerate(values):
        writer.record(i, "ok", "x", value, error="boom" if i % 2 else None)
    writer.close()
    expected = [json.dumps(op.to_json(), separators=(",", ":"))
                for op in read_history(path)]
    assert path.read_text().splitlines() == expected
    with_keys = HistoryWriter(tmp_path / "k.jsonl", start_ns=0, clock=lambda: 5)
    with_keys.record(0, "ok", "x", {1: "int key"})
    with_keys.close()
    assert '"value":{"1":"int key"}' in (tmp_path / "k.jsonl").read_text()
