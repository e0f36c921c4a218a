"""The sim interpreter and the real-time one turn a nemesis's answer into its completion the same
way (`harness.generators.nemesis_completion`), and in both a nemesis that raises ends its op as
an `info` completion carrying the error instead of breaking the run (Jepsen: invoke never
raises into the runner)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from harness.backends import ClusterSpec
from harness.generators import Interpreter, on_nemesis, once
from harness.history import HistoryWriter, ProcessTable
from harness.ops import NEMESIS, Op
from harness.sim import SimBackend
from harness.sim._clients import SimClients
from harness.sim._driver import SimInterpreter


def _raises(op: Op) -> Any:
    raise RuntimeError("the fault could not be injected")


ANSWERS = {  # name: (nemesis_invoke, the completion's (value, error))
    "raises": (_raises, ("halves", "RuntimeError: the fault could not be injected")),
    "garbage": (lambda op: 42, ("halves", "bad completion 42")),
    "ok-mapping": (lambda op: {"type": "ok", "value": {"cut": ["dc1"]}},
                   ({"cut": ["dc1"]}, None)),
}


def _completion(history: Path) -> Op:
    lines = [Op.from_json(json.loads(line))
             for line in history.read_text().splitlines()]
    assert [op.type for op in lines] == ["invoke", "info"], lines
    return lines[1]


def _sim(tmp_path: Path, answer: Any) -> Op:
    sim = SimBackend()
    sim.start(ClusterSpec(work_dir=tmp_path / "cluster", dcs=2, seed=3))
    try:
        cluster = sim._cluster()
        history = HistoryWriter(tmp_path / "sim.jsonl", start_ns=0,
                                clock=lambda: cluster.now_ns, flush=False)
        processes = ProcessTable([NEMESIS])
        clients = SimClients(cluster, history, processes, {}, "secret")
        SimInterpreter(cluster, history, processes, clients, answer, 3).run(
            on_nemesis(once({"f": "start-partition", "value": "halves"})))
        history.close()
    finally:
        sim.stop()
    return _completion(tmp_path / "sim.jsonl")


def _real_time(tmp_path: Path, answer: Any) -> Op:
    history = HistoryWriter(tmp_path / "rt.jsonl")
    processes = ProcessTable([NEMESIS])

    async def no_client(op: Op) -> Op:
        raise AssertionError("no client op expected")

    interpreter = Interpreter(history, processes, no_client, answer)
    try:
        asyncio.run(interpreter.run(on_nemesis(once({"f": "start-partition",
                                                     "value": "halves"}))))
    finally:
        interpreter.close()
        history.close()
    return _completion(tmp_path / "rt.jsonl")


@pytest.mark.parametrize("answer", list(ANSWERS))
def test_both_interpreters_complete_a_nemesis_op_alike(tmp_path: Path, answer: str) -> None:
    invoke, expected = ANSWERS[answer]
    sim, real_time = _sim(tmp_path, invoke), _real_time(tmp_path, invoke)
    for done in (sim, real_time):
        assert done.type == "info" and done.f == "start-partition"
        assert (done.value, done.error) == expected
