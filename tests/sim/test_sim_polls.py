"""The sim interpreter asks a generator for ops only when the answer can change: a generator
that waits for a time only (`Pending(time_only=True)`: stagger, sleep, time limits, schedules) is
not asked again when an op completes before that time. Fewer polls, the same history."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.backends import ClusterSpec
from harness.generators import Context, Generator, Result, on_clients, stagger, time_limit
from harness.history import HistoryWriter, ProcessTable
from harness.sim import SimBackend
from harness.sim._clients import SimClients
from harness.sim._driver import SimInterpreter
from harness.workload import UserWorkload, WorkloadSpec


@dataclass(frozen=True)
class Counted(Generator):
    """`gen`, counting how often it is asked (the count is shared by its successors)."""

    gen: Generator
    polls: list[int] = field(default_factory=lambda: [0])

    def op(self, ctx: Context) -> Result:
        self.polls[0] += 1
        result = self.gen.op(ctx)
        if result is None:
            return None
        value, successor = result
        return value, Counted(successor, self.polls)


def run(tmp_path: Path, name: str) -> tuple[int, int, bytes]:
    """10 virtual s of 10 users at 20 ops/s on 2 DCs: (polls, ops invoked, history bytes)."""
    sim = SimBackend()
    sim.start(ClusterSpec(work_dir=tmp_path / name, dcs=2, seed=3))
    cluster = sim._cluster()
    spec = WorkloadSpec.build(10, ["dc1", "dc2"], 0.0, 0.8, 3)
    history = HistoryWriter(tmp_path / f"{name}.jsonl", start_ns=0,
                            clock=lambda: cluster.now_ns, flush=False)
    processes = ProcessTable(list(spec.users))
    clients = SimClients(cluster, history, processes,
                         {dc: [n.name for n in sim.access_nodes(dc)] for dc in ("dc1", "dc2")},
                         "secret")
    interpreter = SimInterpreter(cluster, history, processes, clients, lambda op: {}, 3)
    gen = Counted(on_clients(time_limit(10, stagger(0.05, UserWorkload.create(spec), seed=3))))
    interpreter.run(gen)
    history.close()
    invoked = history.counts.get("send:invoke", 0) + history.counts.get("login:invoke", 0) \
        + history.counts.get("logout:invoke", 0)
    return gen.polls[0], invoked, (tmp_path / f"{name}.jsonl").read_bytes()


def test_completions_before_a_timed_wake_cause_no_poll(tmp_path: Path) -> None:
    polls, invoked, history = run(tmp_path, "a")
    assert invoked > 150
    # the op itself and the poll right after it (which learns the next stagger time); before,
    # every completion (one per op) caused a third poll
    assert polls <= 2 * invoked + 20, (polls, invoked)  # 559 polls for 186 ops before
    assert run(tmp_path, "b")[2] == history  # and the run is as deterministic as ever
