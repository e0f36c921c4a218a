"""Runner pieces without a cluster: the real-time interpreter, collection, verdict mapping, the
reproducing command."""

import asyncio
import json
import threading
import time

from harness._bridge import run_sync
from harness._cli_run import add_run_parser, options_from_args
from harness.generator import (
    Interpreter,
    clients,
    concat,
    cycle,
    limit,
    on_nemesis,
    once,
    repeat,
    sleep,
    stagger,
    time_limit,
)
from harness.history import HistoryWriter, ProcessTable, read_history
from harness.runner import (
    RunOptions,
    RunState,
    converged,
    exit_code_of,
    final_json,
    merge_event_logs,
)
from harness.schema import validate_history


def test_interpreter_runs_clients_async_nemesis_in_a_thread_and_applies_info_rule(tmp_path):
    path = tmp_path / "history.jsonl"
    history = HistoryWriter(path)
    processes = ProcessTable(["u001", "u002", "nemesis"])
    nemesis_threads = []
    calls = {"n": 0}

    async def client(op):
        calls["n"] += 1
        await asyncio.sleep(0.002)
        if calls["n"] % 5 == 0:
            raise ConnectionError("reset")  # -> info, process replaced
        return op.complete("ok")

    def nemesis(op):
        nemesis_threads.append(threading.current_thread().name)
        return op.complete("info", {"grudge": {"dc1": ["dc2"]}})

    interpreter = Interpreter(history, processes, client, nemesis)
    value = {"user": "u", "id": "m", "from": "u", "to": "v", "dc": "dc1"}
    gen = time_limit(0.6, clients(stagger(0.01, repeat({"f": "send", "value": value})),
                                  cycle([sleep(0.2), once({"f": "start-partition"})])))
    asyncio.run(interpreter.run(gen))
    interpreter.close()
    history.close()
    ops = list(read_history(path))
    assert validate_history(path) == []
    infos = [op for op in ops if op.type == "info" and op.f == "send"]
    assert infos and all("ConnectionError" in op.error for op in infos)
    client_processes = {op.process for op in ops if op.f == "send"}
    assert len(client_processes) > 2  # fresh ids after each info
    assert nemesis_threads and all(name.startswith("nemesis") for name in nemesis_threads)
    assert sum(op.f == "start-partition" for op in ops) == 4  # 2 invokes + 2 infos


def test_interpreter_waits_for_ops_in_flight(tmp_path):
    history = HistoryWriter(tmp_path / "h.jsonl")
    processes = ProcessTable(["u001"])

    async def slow(op):
        await asyncio.sleep(0.2)
        return op.complete("ok")

    asyncio.run(Interpreter(history, processes, slow).run(limit(1, concat(once({"f": "send",
        "value": {"id": "m", "from": "u001", "to": "u002", "dc": "dc1"}})))))
    history.close()
    assert [op.type for op in read_history(tmp_path / "h.jsonl")] == ["invoke", "ok"]


def test_a_cancel_landing_as_an_op_completes_stops_the_interpreter(tmp_path):
    """The cancel of an interrupted run lands in the loop turn an op completes in: it must stop
    the run (Python 3.11's `wait_for` returned the completion instead and the run went on)."""
    history = HistoryWriter(tmp_path / "h.jsonl")
    interpreter = Interpreter(history, ProcessTable(["u001"]), lambda op: op)

    async def cancelled_in_time() -> bool:
        run = asyncio.create_task(interpreter.run(sleep(30)))
        await asyncio.sleep(0.05)  # the interpreter waits for a change
        assert interpreter._changed is not None
        interpreter._changed.set()  # an op completes...
        run.cancel()  # ...in the turn the cancel lands in
        done, _ = await asyncio.wait([run], timeout=2)
        while not run.done():  # the old code: a second cancel ends it
            run.cancel()
            await asyncio.wait([run], timeout=1)
        return bool(done) and run.cancelled()

    assert asyncio.run(cancelled_in_time())
    interpreter.close()
    history.close()


def test_closing_does_not_block_a_nemesis_op_waiting_for_the_loop(tmp_path):
    """An interrupted run closes its interpreter while a nemesis op runs a coroutine on the
    run's loop (the clock nemesis): `close` on the loop blocked both until the op's timeout."""
    history = HistoryWriter(tmp_path / "h.jsonl")
    loops: list[asyncio.AbstractEventLoop] = []

    def nemesis(op):
        return run_sync(asyncio.sleep(0.3, result=op.complete("info")), loops[0], timeout_s=10)

    interpreter = Interpreter(history, ProcessTable(["nemesis"]), lambda op: op, nemesis)

    async def close_time() -> float:
        loops.append(asyncio.get_running_loop())
        run = asyncio.create_task(interpreter.run(on_nemesis(once({"f": "start-partition"}))))
        await asyncio.sleep(0.1)  # the op is in the nemesis thread, its coroutine on this loop
        run.cancel()
        await asyncio.wait([run])
        started = time.monotonic()
        await interpreter.aclose()
        return time.monotonic() - started

    assert asyncio.run(close_time()) < 2
    history.close()


def test_merge_event_logs_relative_sorted_and_tolerates_torn_lines(tmp_path):
    start = 1_000_000_000
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    line = {"event": "originate", "kind": "msg", "key": "m1", "origin": "dc1", "seq": 1,
            "dc": "dc1", "node": "dc1-hub"}
    a.write_text(json.dumps(dict(line, ts_ns=start + 30)) + "\n" + '{"event": "app')
    b.write_text(json.dumps(dict(line, ts_ns=start + 10, event="apply", dc="dc2",
                                 node="dc2-hub")) + "\n")
    out = tmp_path / "events.jsonl"
    assert merge_event_logs({"dc1": a, "dc2": b}, start, out) == 2
    events = [json.loads(x) for x in out.read_text().splitlines()]
    assert [e["time"] for e in events] == [10, 30]
    assert set(events[0]) == {"time", "dc", "node", "event", "kind", "key", "origin", "seq"}


def test_final_json_and_convergence():
    statuses = {"dc1": {"node": "dc1-hub", "vv": {"dc1": 3}, "coords": {}, "counters": {},
                        "pending": 0},
                "dc2": {"node": "dc2-hub", "vv": {"dc1": 3}, "coords": {}, "counters": {},
                        "pending": 1}}
    assert converged(statuses)
    final = final_json(statuses, 42)
    assert final["converged"] and final["time"] == 42 and final["hubs"]["dc2"]["pending"] == 1
    assert not converged({**statuses, "dc3": None})
    assert not converged({**statuses, "dc2": dict(statuses["dc2"], vv={"dc1": 2})})
    assert final_json({"dc3": None}, 1)["hubs"]["dc3"]["error"] == "unreachable"


def test_exit_codes():
    assert exit_code_of({"valid": True}) == 0
    assert exit_code_of({"valid": False}) == 1
    assert exit_code_of({"valid": "unknown"}) == 3


def test_command_reproduces_the_options():
    import argparse
    import shlex
    parser = argparse.ArgumentParser()
    add_run_parser(parser.add_subparsers())
    options = RunOptions(dcs=3, nemesis=["partition-halves", "kill"], bug=["gateway-drop"],
                         seed=9, rate=12.5, exactly_once=True, name="t1")
    argv = shlex.split(options.command())[1:]
    again = options_from_args(parser.parse_args(argv))
    assert again == options


def _state_for(*nemeses):
    """A RunState with the fault ops `run_test` records for these nemeses in test.json."""
    from harness.nemesis import get_nemesis
    from harness.runner import fault_ops_json
    return RunState(fault_ops_json(get_nemesis(list(nemeses))))


def test_run_state_tracks_active_faults():
    from harness.ops import Op
    state = _state_for("partition-one", "pause")
    state.on_op(Op(0, 0, "nemesis", "info", "start-partition", {"grudge": {}}))
    state.on_op(Op(1, 0, "nemesis", "info", "pause", {"node": "dc1-hub"}))
    assert set(state.active_faults) == {"partition", "pause"}
    state.on_op(Op(2, 0, "nemesis", "info", "stop-partition", {}))
    assert set(state.active_faults) == {"pause"}


def test_progress_line_shows_rate_counts_and_active_faults():
    from harness._progress import RateWindow, progress_line
    from harness.ops import Op
    state = _state_for("partition-halves")
    state.phase = "main"
    state.on_op(Op(0, 0, "nemesis", "info", "start-partition", {"grudge": {}}))
    window = RateWindow()
    progress_line(state, window)
    state.ops = 500
    line = progress_line(state, window)
    assert "main" in line and "faults: partition" in line and "ops/s" in line
    assert "acked 0" in line and "delivered 0" in line
