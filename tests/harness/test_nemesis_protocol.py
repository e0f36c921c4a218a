"""The nemesis protocol without sockets: invoke never raises, compose routing, validation,
schedules (seeded, alternating, staggered) and their play-out as harness generators in virtual time.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.errors import UsageError
from harness.generators import SEC, simulate, time_limit
from harness.nemesis import (
    Nemesis,
    NemesisContext,
    ScheduledOp,
    compose,
    get_nemesis,
    validate,
)
from harness.ops import Op, invocation


class RecordingNemesis(Nemesis):
    """A real (if harmless) nemesis: it records what it was asked to do."""

    name = "recording"
    help = "records ops"
    fs = frozenset({"start-rec", "stop-rec"})
    start_f = "start-rec"
    stop_f = "stop-rec"

    def __init__(self, name: str = "recording", fs: tuple[str, str] = ("start-rec", "stop-rec"),
                 fail_on: str | None = None) -> None:
        self.name = name  # type: ignore[misc]
        self.start_f, self.stop_f = fs  # type: ignore[misc]
        self.fs = frozenset(fs)  # type: ignore[misc]
        self.fail_on = fail_on
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def start_value(self, ctx: NemesisContext, rng: random.Random) -> dict[str, Any]:
        return {"pick": rng.randint(0, 10**9)}

    def apply(self, ctx: NemesisContext, f: str, value: dict[str, Any]) -> dict[str, Any]:
        if f == self.fail_on:
            raise OSError("injected failure")
        self.seen.append((f, value))
        return {**value, "done": True}


def context(seed: int = 1, interval: float = 5, dcs: int = 5) -> NemesisContext:
    return NemesisContext(backend=None, dc_names=[f"dc{i}" for i in range(1, dcs + 1)],
                          rng=random.Random(seed), options={"nemesis_interval": interval})


def nemesis_op(f: str, value: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"index": 3, "time": 10, "process": "nemesis", "type": "invoke", "f": f,
            "value": value or {}}


def test_invoke_completes_as_info_with_the_applied_value() -> None:
    nemesis = RecordingNemesis()
    done = nemesis.invoke(context(), nemesis_op("start-rec", {"pick": 7}))
    assert done == {"index": 3, "time": 10, "process": "nemesis", "type": "info",
                    "f": "start-rec", "value": {"pick": 7, "done": True}}


def test_invoke_turns_an_exception_into_an_info_op_with_error() -> None:
    nemesis = RecordingNemesis(fail_on="start-rec")
    done = nemesis.invoke(context(), nemesis_op("start-rec", {"pick": 7}))
    assert done["type"] == "info"
    assert done["f"] == "start-rec"
    assert done["value"] == {"pick": 7}
    assert "OSError: injected failure" in done["error"]


def test_invoke_keeps_the_harness_op_shape() -> None:
    op = invocation("stop-rec", {}, process="nemesis").with_(index=5, time=99)
    done = RecordingNemesis().invoke(context(), op)
    assert isinstance(done, Op)
    assert (done.type, done.f, done.process, done.index, done.error) == (
        "info", "stop-rec", "nemesis", 5, None)
    failed = RecordingNemesis(fail_on="stop-rec").invoke(context(), op)
    assert isinstance(failed, Op) and failed.error and failed.type == "info"


def test_invoke_of_an_unhandled_f_is_an_info_error() -> None:
    done = RecordingNemesis().invoke(context(), nemesis_op("start-partition"))
    assert done["type"] == "info" and "does not handle" in done["error"]


def test_compose_routes_by_f() -> None:
    a = RecordingNemesis("a", ("start-a", "stop-a"))
    b = RecordingNemesis("b", ("start-b", "stop-b"))
    both = compose([a, b])
    assert both.fs == {"start-a", "stop-a", "start-b", "stop-b"}
    both.invoke(context(), nemesis_op("start-b"))
    both.invoke(context(), nemesis_op("stop-a"))
    assert [f for f, _ in a.seen] == ["stop-a"]
    assert [f for f, _ in b.seen] == ["start-b"]
    done = both.invoke(context(), nemesis_op("start-c"))
    assert done["type"] == "info" and "no nemesis" in done["error"]


def test_compose_disambiguates_a_shared_f_by_the_nemesis_tag() -> None:
    kill = RecordingNemesis("kill", ("kill", "start"))
    outage = RecordingNemesis("dc-outage", ("kill", "start"))
    both = compose([kill, outage])
    both.invoke(context(), nemesis_op("kill", {"nemesis": "dc-outage", "dc": "dc2"}))
    assert kill.seen == [] and outage.seen == [("kill", {"nemesis": "dc-outage", "dc": "dc2"})]
    done = both.invoke(context(), nemesis_op("start"))
    assert len(kill.seen) == 1 and len(outage.seen) == 2, "an untagged heal goes to every owner"
    assert set(done["value"]) == {"kill", "dc-outage"}


def test_validate_rejects_malformed_ops_without_running_them() -> None:
    inner = RecordingNemesis()
    checked = validate(inner)
    ctx = context()
    bad = [
        {**nemesis_op("start-rec"), "type": "ok"},
        {**nemesis_op("start-rec"), "process": 3},
        nemesis_op("start-nothing"),
        {**nemesis_op("start-rec"), "value": [1, 2]},
    ]
    for op in bad:
        done = checked.invoke(ctx, op)
        assert done["type"] == "info" and done["error"].startswith("invalid nemesis op")
    assert inner.seen == []
    assert len(checked.problems) == 4


def test_validate_requires_a_stop_between_two_starts() -> None:
    inner = RecordingNemesis()
    checked = validate(inner)
    ctx = context()
    assert "error" not in checked.invoke(ctx, nemesis_op("start-rec"))
    second = checked.invoke(ctx, nemesis_op("start-rec"))
    assert "was not stopped" in second["error"]
    assert "error" not in checked.invoke(ctx, nemesis_op("stop-rec"))
    assert "error" not in checked.invoke(ctx, nemesis_op("stop-rec")), "heals are idempotent"
    assert checked.problems[-1].endswith("stop-rec: stop-rec by recording heals no fault it opened")
    final = checked.invoke(ctx, nemesis_op("stop-rec", {"nemesis": "recording", "final": True}))
    assert "error" not in final and len(checked.problems) == 2, "a final heal may heal nothing"
    assert "error" not in checked.invoke(ctx, nemesis_op("start-rec"))
    assert [f for f, _ in inner.seen] == ["start-rec", "stop-rec", "stop-rec", "stop-rec",
                                          "start-rec"]
    checked.teardown(ctx)
    assert checked.problems[-1] == "start-rec by recording was never followed by its stop"


class BreachingNemesis(RecordingNemesis):
    """Overrides `invoke` and breaks the protocol the way `how` says."""

    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    def invoke(self, ctx: NemesisContext, op: Any) -> Any:
        if self.how == "raise":
            raise RuntimeError("boom")
        if self.how == "none":
            return None
        done = super().invoke(ctx, op)
        if self.how == "other-f":
            return done.with_(f="stop-rec" if done.f == "start-rec" else "start-rec")
        if self.how == "ok-type":
            return done.with_(type="ok")
        return done


@pytest.mark.parametrize("how, fragment", [
    ("raise", "invoke raised RuntimeError: boom"),
    ("none", "invoke returned NoneType None, not an op"),
    ("other-f", "completion f 'stop-rec' != 'start-rec'"),
    ("ok-type", "completion type must be 'info', got 'ok'"),
])
def test_validate_lists_a_breaching_invoke_and_keeps_the_completion_well_formed(
        how: str, fragment: str) -> None:
    checked = validate(BreachingNemesis(how))
    op = Op(7, 100, "nemesis", "invoke", "start-rec", {"nemesis": "recording"})
    done = checked.invoke(context(), op)
    assert isinstance(done, Op)
    assert (done.index, done.process, done.type, done.f) == (7, "nemesis", "info", "start-rec")
    assert fragment in (done.error or "") and "nemesis protocol breach" in (done.error or "")
    assert checked.problems == [f"op 7 start-rec: {fragment}"]


def test_validate_tracks_composed_children_separately() -> None:
    checked = validate(compose([RecordingNemesis("kill", ("kill", "start")),
                                RecordingNemesis("dc-outage", ("kill", "start"))]))
    ctx = context()
    checked.invoke(ctx, nemesis_op("kill", {"nemesis": "kill"}))
    assert "error" not in checked.invoke(ctx, nemesis_op("kill", {"nemesis": "dc-outage"}))
    checked.invoke(ctx, nemesis_op("start"))
    checked.teardown(ctx)
    assert checked.problems == []


def test_schedule_alternates_start_and_stop_every_interval() -> None:
    nemesis = RecordingNemesis()
    steps = nemesis.schedule(context(interval=5)).until(31)
    assert [(s.at_s, s.f) for s in steps] == [
        (5, "start-rec"), (10, "stop-rec"), (15, "start-rec"), (20, "stop-rec"),
        (25, "start-rec"), (30, "stop-rec")]
    assert all(s.value["nemesis"] == "recording" for s in steps)


def test_schedule_is_seeded_and_replayable() -> None:
    nemesis = RecordingNemesis()
    first = nemesis.schedule(context(seed=7))
    assert first.until(60) == first.until(60), "iterating twice replays the same ops"
    assert first.until(60) == nemesis.schedule(context(seed=7)).until(60)
    assert first.until(60) != nemesis.schedule(context(seed=8)).until(60)


def test_partition_schedule_records_grudges_from_the_seed() -> None:
    steps = get_nemesis("partition-halves").schedule(context(seed=3)).until(20)
    starts = [s for s in steps if s.f == "start-partition"]
    assert len(starts) == 2
    for step in starts:
        grudge = step.value["grudge"]
        assert sorted(grudge) == ["dc1", "dc2", "dc3", "dc4", "dc5"]
        assert step.value["style"] == "blackhole" and step.value["shape"] == "partition-halves"
    again = get_nemesis("partition-halves").schedule(context(seed=3)).until(20)
    assert again == steps


def test_wan_degrade_schedule_records_kind_links_and_attributes() -> None:
    steps = get_nemesis("wan-degrade").schedule(context(seed=5)).until(200)
    kinds = {s.value["kind"] for s in steps if s.f == "start-wan"}
    assert kinds == {"latency", "bandwidth", "slicer", "reset_peer"}
    for step in steps:
        if step.f == "start-wan":
            assert step.value["links"] and all(a != b for a, b in step.value["links"])
            assert step.value["attributes"]


def test_compose_staggers_and_merges_schedules_in_time_order() -> None:
    both = compose([RecordingNemesis("a", ("start-a", "stop-a")),
                    RecordingNemesis("b", ("start-b", "stop-b"))])
    steps = both.schedule(context(interval=4)).until(13)
    assert [(s.at_s, s.f) for s in steps] == [
        (4, "start-a"), (6, "start-b"), (8, "stop-a"), (10, "stop-b"), (12, "start-a")]
    final = list(both.final_schedule(context()))
    assert [(s.f, s.value["nemesis"]) for s in final] == [("stop-a", "a"), ("stop-b", "b")]


def test_generator_plays_the_schedule_on_the_nemesis_thread_in_virtual_time() -> None:
    nemesis = RecordingNemesis()
    ctx = context(interval=2)
    gen = time_limit(9, nemesis.generator(ctx))
    history = simulate(gen, ["nemesis", "u001"], latency=lambda op: SEC // 2)
    invokes = [op for op in history if op.type == "invoke"]
    assert [(op.time, op.f) for op in invokes] == [
        (2 * SEC, "start-rec"), (4 * SEC, "stop-rec"), (6 * SEC, "start-rec"),
        (8 * SEC, "stop-rec")]
    assert all(op.process == "nemesis" for op in history)
    assert [op.value for op in invokes] == [s.op()["value"] for s in nemesis.schedule(
        context(interval=2)).until(9)]


def test_a_slow_nemesis_op_delays_the_next_one() -> None:
    gen = time_limit(20, RecordingNemesis().generator(context(interval=2)))
    history = simulate(gen, ["nemesis"], latency=lambda op: 3 * SEC)
    times = [op.time for op in history if op.type == "invoke"]
    assert times[:3] == [2 * SEC, 5 * SEC, 8 * SEC]


def test_final_generator_emits_one_heal_per_nemesis() -> None:
    history = simulate(RecordingNemesis().final_generator(context()), ["nemesis", "u001"])
    assert [(op.type, op.f, op.value) for op in history] == [
        ("invoke", "stop-rec", {"nemesis": "recording", "final": True}),
        ("ok", "stop-rec", {"nemesis": "recording", "final": True})]


def test_scheduled_op_is_a_nemesis_invocation() -> None:
    assert ScheduledOp(1.5, "kill", {"node": "dc1-hub"}).op() == {
        "process": "nemesis", "type": "invoke", "f": "kill", "value": {"node": "dc1-hub"}}


@pytest.mark.parametrize("name", ["partition-one", "wan-degrade", "kill", "pause", "clock-skew",
                                  "clock-ahead"])
def test_setup_without_a_capable_backend_is_a_usage_error(name: str) -> None:
    with pytest.raises(UsageError):
        get_nemesis(name).setup(context())


def test_partition_ring_setup_needs_four_dcs() -> None:
    class FakeWanHolder:
        wan = object()

    ctx = NemesisContext(backend=FakeWanHolder(), dc_names=["dc1", "dc2", "dc3"],
                         rng=random.Random(0))
    with pytest.raises(UsageError, match="at least 4 DCs"):
        get_nemesis("partition-ring").setup(ctx)
    get_nemesis("partition-one").setup(ctx)
    bad_style = NemesisContext(backend=FakeWanHolder(), dc_names=["dc1", "dc2"],
                               rng=random.Random(0), options={"partition_style": "melt"})
    with pytest.raises(UsageError, match="partition-style"):
        get_nemesis("partition-one").setup(bad_style)


async def _answer(x: int) -> int:
    await asyncio.sleep(0)
    return x * 2


def test_run_async_from_plain_sync_code() -> None:
    assert context().run_async(_answer(21)) == 42


async def test_run_async_from_a_thread_that_runs_a_loop() -> None:
    assert context().run_async(_answer(4)) == 8


async def test_run_async_on_the_runner_loop_from_a_worker_thread() -> None:
    ctx = context()
    ctx.loop = asyncio.get_running_loop()
    assert await asyncio.to_thread(ctx.run_async, _answer(5)) == 10


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=4), st.integers(min_value=0, max_value=2**32),
       st.floats(min_value=0.1, max_value=10), st.booleans())
def test_composed_schedules_always_pass_validation(children: int, seed: int, interval: float,
                                                   share_fs: bool) -> None:
    """Whatever the mix, the merged schedule alternates start/stop per child and ends healed."""
    nemeses = [RecordingNemesis(f"n{i}", ("kill", "start") if share_fs else (f"s{i}", f"e{i}"))
               for i in range(children)]
    checked = validate(compose(nemeses))
    ctx = context(seed=seed, interval=interval)
    steps = [*checked.schedule(ctx).until(interval * 9), *checked.final_schedule(ctx)]
    main_times = [s.at_s for s in steps if "final" not in s.value]
    assert main_times == sorted(main_times)
    for step in steps:
        done = checked.invoke(ctx, step.op())
        assert "error" not in done, done
    checked.teardown(ctx)
    assert checked.problems == []
    for nemesis in nemeses:
        fs = [f for f, _ in nemesis.seen]
        assert fs[: len(fs) - 1 : 2] == [nemesis.start_f] * (len(fs) // 2)
        assert set(fs[1::2]) == {nemesis.stop_f}
        assert fs[-1] == nemesis.stop_f
