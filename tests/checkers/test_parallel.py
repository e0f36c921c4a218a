"""The parallel check (`check_all(parallel=True)`): some checkers in a forked child, results
byte-identical to the serial path, a child's failure an `unknown`, the child reaped always."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from test_generated_run import load_generator

from checkers import _compose, check_all, check_loaded, index_history, load_run
from checkers._parallel import ChildFailed, Forked

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parallel") / "run"
    load_generator().generate_run(path, ops=6_000, seed=3, with_events=True)
    return path


def _checked(run_dir: Path, parallel: bool, **options: Any) -> dict[str, Any]:
    run = load_run(run_dir)
    return check_all(index_history(run.history), run.events, run.final,
                     {**(run.test or {}), **options}, parallel=parallel)


def _pids_of_forked_checkers(monkeypatch: pytest.MonkeyPatch, pids: Path) -> None:
    """Each child checker appends the pid it ran in to `pids` (its result unchanged)."""
    for name in _compose.CHILD_CHECKERS:
        checker = _compose.CHECKERS[name]

        def recording(*args: Any, _checker: Any = checker) -> dict[str, Any]:
            with pids.open("a", encoding="utf-8") as out:
                out.write(f"{os.getpid()}\n")
            return _checker(*args)  # type: ignore[no-any-return]

        monkeypatch.setitem(_compose.CHECKERS, name, recording)


def test_parallel_results_are_the_serial_ones_byte_for_byte(
        run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pids = tmp_path / "pids"
    _pids_of_forked_checkers(monkeypatch, pids)
    for options in ({}, {"exactly_once": True, "max_out_of_order": 0, "min_availability": 1}):
        serial = _checked(run_dir, False, **options)
        assert {int(pid) for pid in pids.read_text().split()} == {os.getpid()}
        pids.unlink()
        parallel = _checked(run_dir, True, **options)
        ran_in = {int(pid) for pid in pids.read_text().split()}
        pids.unlink()
        assert len(ran_in) == 1 and os.getpid() not in ran_in  # in one child, not here
        assert json.dumps(parallel) == json.dumps(serial)
        assert serial["delivery"]["lost"] and serial["delivery"]["duplicated"]  # something found


def test_check_loaded_parallel_by_default_for_a_big_history(
        run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pids = tmp_path / "pids"
    _pids_of_forked_checkers(monkeypatch, pids)
    monkeypatch.setattr(_compose, "fork_usable", lambda: True)  # pytest-xdist runs threads
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))  # an idle core
    monkeypatch.setattr(_compose, "PARALLEL_MIN_OPS", 6_000)
    seen: list[dict[str, Any]] = []
    results, _index = check_loaded(load_run(run_dir), meanwhile=lambda partial, _: seen.append(
        dict(partial)))
    assert os.getpid() not in {int(pid) for pid in pids.read_text().split()}
    assert set(seen[0]) == set(_compose.CHECKERS) - _compose.CHILD_CHECKERS
    assert seen[0]["delivery"] is results["delivery"]
    pids.unlink()
    monkeypatch.setattr(os, "getloadavg", lambda: (2.0, 0.2, 0.2))  # no idle core: serial
    assert json.dumps(check_loaded(load_run(run_dir))[0]) == json.dumps(results)
    assert {int(pid) for pid in pids.read_text().split()} == {os.getpid()}
    pids.unlink()
    monkeypatch.setenv("IMFAULT_CHECK_PARALLEL", "1")  # forced on, however loaded
    assert json.dumps(check_loaded(load_run(run_dir))[0]) == json.dumps(results)
    assert os.getpid() not in {int(pid) for pid in pids.read_text().split()}
    pids.unlink()
    monkeypatch.delenv("IMFAULT_CHECK_PARALLEL")
    monkeypatch.setattr(os, "getloadavg", lambda: (0.2, 0.2, 0.2))
    monkeypatch.setattr(_compose, "PARALLEL_MIN_OPS", 10**9)  # too small a history: serial
    assert json.dumps(check_loaded(load_run(run_dir))[0]) == json.dumps(results)
    assert {int(pid) for pid in pids.read_text().split()} == {os.getpid()}
    pids.unlink()
    monkeypatch.setenv("IMFAULT_CHECK_PARALLEL", "0")  # forced off
    monkeypatch.setattr(_compose, "PARALLEL_MIN_OPS", 6_000)
    assert json.dumps(check_loaded(load_run(run_dir))[0]) == json.dumps(results)
    assert {int(pid) for pid in pids.read_text().split()} == {os.getpid()}


def test_a_checker_raising_in_the_child_reads_as_serially(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any) -> dict[str, Any]:
        raise ZeroDivisionError("ordering bug")

    monkeypatch.setitem(_compose.CHECKERS, "ordering", broken)
    serial = _checked(run_dir, False)
    parallel = _checked(run_dir, True)
    assert parallel["ordering"] == {"valid": "unknown",
                                    "reason": "checker crashed: ZeroDivisionError: ordering bug"}
    assert json.dumps(parallel) == json.dumps(serial)


@pytest.mark.parametrize("death", ["signal", "exit", "unpicklable"])
def test_a_child_that_dies_makes_its_checkers_unknown(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch, death: str) -> None:
    def dying(*args: Any) -> dict[str, Any]:
        if death == "signal":
            os.kill(os.getpid(), signal.SIGKILL)
        if death == "exit":
            os._exit(7)
        return {"valid": True, "bad": lambda: None}  # a result that cannot be sent back

    serial = _checked(run_dir, False)
    monkeypatch.setitem(_compose.CHECKERS, "perf", dying)
    results = _checked(run_dir, True)
    expected = {"signal": "checker process killed by signal 9",
                "exit": "checker process exited 7",
                "unpicklable": "checker process exited 1: "}[death]
    for name in _compose.CHILD_CHECKERS:  # all of the child's checkers, never a silent valid
        assert results[name]["valid"] == "unknown"
        assert results[name]["reason"].startswith(f"checker crashed: {expected}")
    assert results["valid"] is not True
    assert results["delivery"] == serial["delivery"]


def test_the_child_is_reaped_when_this_process_is_interrupted(
        run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = tmp_path / "child"

    def slow(*args: Any) -> dict[str, Any]:
        started.write_text(str(os.getpid()), encoding="utf-8")
        time.sleep(60)
        return {"valid": True}

    def interrupted(*args: Any) -> dict[str, Any]:
        deadline = time.monotonic() + 20
        while not started.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise KeyboardInterrupt  # as Ctrl-C would, while the child works

    monkeypatch.setitem(_compose.CHECKERS, "ordering", slow)
    monkeypatch.setitem(_compose.CHECKERS, "delivery", interrupted)
    began = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        _checked(run_dir, True)
    assert time.monotonic() - began < 30  # did not wait for the child's sleep
    pid = int(started.read_text(encoding="utf-8"))
    with pytest.raises(ChildProcessError):  # killed and reaped: no zombie left
        os.waitpid(pid, os.WNOHANG)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_forked_result_and_failure() -> None:
    with Forked(lambda: {"n": 10**30, "t": (1, 2.5, None)}) as child:
        assert child.result() == {"n": 10**30, "t": (1, 2.5, None)}
    with Forked(lambda: 1 / 0) as child, pytest.raises(ChildFailed, match="ZeroDivisionError"):
        child.result()


def test_no_fork_possible_means_all_checkers_here(
        run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    serial = _checked(run_dir, False)

    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    assert json.dumps(_checked(run_dir, True)) == json.dumps(serial)
