"""The report built from a run already parsed (what `imfault check` hands over) is the same page as
the one built by reading the run directory's files, and really does not read them again."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from reports_synthetic_run import LOST_ID, make_run

import checkers
import reports
from harness.cli import main

GENERATOR = Path(__file__).resolve().parents[2] / "benchmarks" / "gen_history.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_history_for_reports", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _from_files(run_dir: Path, results: dict | None) -> str:
    return reports.write_report(run_dir, results).read_text(encoding="utf-8")


def _preloaded(run_dir: Path, with_index: bool = True) -> tuple[str, dict]:
    run = checkers.load_run(run_dir)
    results, index = checkers.check_loaded(run)
    path = reports.write_report(run_dir, results, run=run, index=index if with_index else None)
    return path.read_text(encoding="utf-8"), results


@pytest.mark.parametrize("with_index", [True, False])
def test_synthetic_run_same_page(tmp_path: Path, with_index: bool) -> None:
    run_dir = make_run(tmp_path)
    page, results = _preloaded(run_dir, with_index)
    assert LOST_ID in page and 'id="trails-lost"' in page
    assert page == _from_files(run_dir, results)


def test_generated_run_same_page(tmp_path: Path) -> None:
    summary = _generator().generate_run(tmp_path, ops=20_000, seed=3, with_events=True)
    assert summary["expected"]["lost"] and summary["expected"]["duplicated"]
    page, results = _preloaded(tmp_path)
    assert summary["expected"]["lost"][0] in page
    assert page == _from_files(tmp_path, results)


def test_preloaded_run_is_not_read_again(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    run = checkers.load_run(run_dir)
    results, index = checkers.check_loaded(run)
    expected = _from_files(run_dir, results)
    for name in ("history.jsonl", "events.jsonl"):  # what is on disk now is not that run
        (run_dir / name).write_text('{"f": "send", "type": "invoke", "time": 5}\n')
    page = reports.write_report(run_dir, results, run=run, index=index).read_text("utf-8")
    assert page == expected
    assert _from_files(run_dir, results) != expected  # the files alone give another page


def test_malformed_history_counted_as_the_checkers_do(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    with (run_dir / "history.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"index": 1, "time": 2.5e10, "process": 3, "type": "ok", "f": "login", '
                     '"value": {"user": "u1", "dc": "dc2"}}\n')
        handle.write('{"index": 2, "time": "late", "process": 3, "type": "ok", "f": "recv", '
                     '"value": {"user": "u2", "id": "' + LOST_ID + '"}}\n')
        for weird in ("NaN", "Infinity"):  # JSON extensions the stdlib reads: not a time
            handle.write('{"index": 3, "time": ' + weird + ', "process": 3, "type": "ok", '
                         '"f": "login", "value": {"user": "u3", "dc": "dc1"}}\n')
        handle.write('[1, 2]\n{"f": "send", "type": "invoke", "value": null}\n{"time": 1')
    page, results = _preloaded(run_dir)
    assert "2 malformed history lines skipped" in page  # `[1, 2]` and the cut last line
    # the cards show the delivery checker's numbers when it ran (the send whose value is null
    # counts, as in results.json), however the report read the history
    attempted = results["delivery"]["attempted"]
    assert f'<b>{attempted}</b><span>sends attempted</span>' in page
    assert f'<b>{attempted}</b><span>sends attempted</span>' in _from_files(run_dir, results)
    # without results (a partial run) they are counted from the history, which skips that send
    assert f'<b>{attempted - 1}</b><span>sends attempted</span>' in _from_files(run_dir, None)


def test_cli_check_writes_the_same_report_and_results(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, with_results=False)
    assert main(["check", str(run_dir)]) == 1  # the synthetic run loses a message
    results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert results == json.loads(json.dumps(checkers.check_run(run_dir)))
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert page == _from_files(run_dir, results)


def test_a_run_loaded_from_another_directory_is_not_used(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "a")
    other = make_run(tmp_path / "b")
    with (other / "history.jsonl").open("a", encoding="utf-8") as handle:
        handle.write('{"index": 1, "time": 1, "process": 9, "type": "invoke", "f": "send", '
                     '"value": {"id": "m-other", "from": "u1", "to": "u2", "dc": "dc1"}}\n')
    results = checkers.check_run(run_dir)
    expected = _from_files(run_dir, results)
    other_run = checkers.load_run(other)
    page = reports.write_report(run_dir, results, run=other_run).read_text("utf-8")
    assert page == expected and "m-other" not in page


def test_cli_check_parallel_or_not_writes_the_same_bytes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`imfault check` with part of the checkers in a forked child (the default for a big run)
    and the report's history digest built meanwhile: the files of the serial path, byte for byte."""
    from checkers import _compose

    summary = _generator().generate_run(tmp_path, ops=6_000, seed=5, with_events=True)
    assert summary["expected"]["lost"] and summary["expected"]["duplicated"]
    outputs = []
    real = _compose.Forked
    for fork in (False, True):
        monkeypatch.setattr(_compose, "fork_usable", lambda: True)  # pytest-xdist runs threads
        monkeypatch.setattr(_compose, "spare_core", lambda: True)  # however loaded the machine
        monkeypatch.setattr(_compose, "PARALLEL_MIN_OPS", 1 if fork else 10**9)
        forked: list[bool] = []
        monkeypatch.setattr(_compose, "Forked",
                            lambda work, seen=forked: seen.append(True) or real(work))
        assert main(["check", str(tmp_path)]) == 1
        assert forked == ([True] if fork else [])
        outputs.append([(tmp_path / name).read_bytes() for name in ("results.json", "report.html")])
    assert outputs[0] == outputs[1]
    results = json.loads(outputs[0][0])
    assert outputs[0][1].decode("utf-8") == _from_files(tmp_path, results)


def test_a_prepared_digest_is_used_once_and_only_for_its_trails(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    run = checkers.load_run(run_dir)
    results, index = checkers.check_loaded(run)
    expected = _from_files(run_dir, results)
    prepared = reports.prepare_report(run_dir, results["delivery"], run=run, index=index)
    assert prepared is not None and prepared.prepared is not None
    page = reports.write_report(run_dir, results, prepared=prepared).read_text("utf-8")
    assert page == expected and prepared.prepared is None
    # prepared for other trails (no delivery result): built again, not used
    other = reports.prepare_report(run_dir, None, run=run, index=index)
    assert other is not None and other.prepared is not None and not other.prepared[0]
    assert reports.write_report(run_dir, results, prepared=other).read_text("utf-8") == expected


@pytest.mark.parametrize("int_ids", [False, True])
def test_trails_from_the_index_positions_are_the_pass_over_the_history(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, int_ids: bool) -> None:
    """The trails' ops found at the positions the index noted (no pass over the history) are the
    ones the pass finds: receipts before their send, completions and receipts of ids never
    sent, a send logged by the nemesis process, logins of the nemesis; ids that are not all
    strings take the pass."""
    from reports import _digest

    run_dir = make_run(tmp_path)
    extra = [  # a receipt of m-lost before a retry's invocation, an id never sent, odd ops
        {"time": 16 * 10**9, "process": 2, "type": "ok", "f": "recv", "value": {
            "user": "u3", "id": LOST_ID, "from": "u1", "to": "u3", "dc": "dc3",
            "via": "offline"}},
        {"time": 16 * 10**9 + 1, "process": 2, "type": "ok", "f": "recv", "value": {
            "user": "u3", "id": "m-never", "from": "u1", "to": "u3", "dc": "dc3"}},
        {"time": 16 * 10**9 + 2, "process": 0, "type": "ok", "f": "send", "value": {
            "id": "m-never", "from": "u1", "to": "u3", "dc": "dc1"}},
        {"time": 16 * 10**9 + 3, "process": "nemesis", "type": "info", "f": "send", "value": {
            "id": "m-never", "from": "u1", "to": "u3", "dc": "dc1"}},
        {"time": 16 * 10**9 + 4, "process": "nemesis", "type": "invoke", "f": "login",
         "value": {"user": "u1"}},
        {"time": 16 * 10**9 + 5, "process": 0, "type": "invoke", "f": "send", "value": {
            "id": 7 if int_ids else "m-late", "from": "u1", "to": "u2", "dc": "dc1"}},
    ]
    with (run_dir / "history.jsonl").open("a", encoding="utf-8") as handle:
        handle.writelines(json.dumps(op) + "\n" for op in extra)
    passes: list[bool] = []
    real_pass = _digest._collect_trail_ops_fast
    monkeypatch.setattr(_digest, "_collect_trail_ops_fast",
                        lambda *args: passes.append(True) or real_pass(*args))
    page, results = _preloaded(run_dir)
    assert passes == ([True] if int_ids else [])
    assert "m-never" in results["delivery"]["unexpected"]
    assert page.count("m-never") > 3 and "16.000" in page
    monkeypatch.setattr(_digest, "_collect_trail_ops_indexed", lambda digest, index, trail_ids:
                        real_pass(digest, index.history, index.records, trail_ids))
    assert _preloaded(run_dir)[0] == page  # the pass over the history's records
