"""Generators in virtual time (no sockets, no clock): every combinator, routing, determinism."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.generator import (
    SEC,
    Context,
    Pending,
    any_of,
    clients,
    concat,
    cycle,
    each_process,
    from_schedule,
    limit,
    mix,
    on_clients,
    on_nemesis,
    once,
    phases,
    repeat,
    simulate,
    sleep,
    stagger,
    time_limit,
)

MS = 1_000_000
THREADS = ["u001", "u002", "u003", "nemesis"]


def invokes(history, f=None):
    return [op for op in history if op.type == "invoke" and (f is None or op.f == f)]


def test_once_emits_exactly_one_op_and_pending_without_free_threads():
    gen = once({"f": "x", "value": 1})
    ctx = Context(0, frozenset(), {"u001": 0})
    value, same = gen.op(ctx)
    assert isinstance(value, Pending) and same == gen
    value, rest = gen.op(Context(5, frozenset({"u001"}), {"u001": 0}))
    assert value.f == "x" and value.process == 0 and value.time == 5
    assert rest.op(Context(6, frozenset({"u001"}), {"u001": 0})) is None
    assert len(invokes(simulate(gen, THREADS))) == 1


def test_purity_asking_twice_gives_the_same_answer():
    gen = stagger(0.01, mix([repeat({"f": "a"}), repeat({"f": "b"})], seed=3), seed=3)
    ctx = Context(0, frozenset({"u001", "u002"}), {"u001": 0, "u002": 1})
    assert gen.op(ctx) == gen.op(ctx)


def test_sleep_then_op():
    history = simulate(concat(sleep(2), once({"f": "late"})), THREADS)
    assert [op.time for op in invokes(history)] == [2 * SEC]


def test_time_limit_cuts_an_infinite_generator():
    history = simulate(time_limit(1, stagger(0.1, repeat({"f": "w"}))), THREADS,
                       latency=lambda op: MS)
    times = [op.time for op in invokes(history)]
    assert times and max(times) < SEC
    assert 3 <= len(times) <= 25


def test_stagger_rate_is_about_one_over_dt():
    history = simulate(time_limit(100, stagger(0.05, repeat({"f": "w"}), seed=1)), THREADS)
    count = len(invokes(history))
    assert 1700 <= count <= 2300  # 100 s / 50 ms = 2000 on average


def test_same_seed_same_schedule_other_seed_other_schedule():
    def run(seed):
        gen = time_limit(2, stagger(0.05, mix([repeat({"f": "a"}), repeat({"f": "b"})],
                                              seed=seed), seed=seed))
        return [(op.time, op.f, op.process) for op in simulate(gen, THREADS,
                                                                 latency=lambda op: 3 * MS)]
    assert run(7) == run(7)
    assert run(7) != run(8)


def test_mix_uses_every_generator_about_evenly():
    history = simulate(limit(3000, mix([repeat({"f": "a"}), repeat({"f": "b"}),
                                        repeat({"f": "c"})], seed=5)), THREADS)
    counts = {f: len(invokes(history, f)) for f in "abc"}
    assert sum(counts.values()) == 3000
    assert all(800 <= c <= 1200 for c in counts.values()), counts


def test_phases_wait_for_every_op_of_the_previous_phase():
    slow = lambda op: 100 * MS if op.f == "slow" else MS
    gen = phases(on_clients(limit(3, repeat({"f": "slow"}))), once({"f": "next"}))
    history = simulate(gen, THREADS, latency=slow)
    last_slow_done = max(op.time for op in history if op.f == "slow" and op.type == "ok")
    (nxt,) = invokes(history, "next")
    assert nxt.time >= last_slow_done
    # without the barrier (concat) the next op would not wait
    history = simulate(concat(on_clients(limit(3, repeat({"f": "slow"}))), once({"f": "next"})),
                       THREADS, latency=slow)
    assert invokes(history, "next")[0].time < 100 * MS


def test_cycle_restarts_and_counts_rounds():
    history = simulate(cycle([once({"f": "a"}), once({"f": "b"})], times=3), THREADS)
    assert [op.f for op in invokes(history)] == ["a", "b"] * 3


def test_routing_clients_and_nemesis():
    gen = time_limit(3, clients(stagger(0.01, repeat({"f": "send"})),
                                cycle([sleep(1), once({"f": "start-partition"})])))
    history = simulate(gen, THREADS, latency=lambda op: MS)
    assert all(op.process == "nemesis" for op in history if op.f == "start-partition")
    assert all(isinstance(op.process, int) for op in history if op.f == "send")
    assert [op.time for op in invokes(history, "start-partition")] == [SEC, 2 * SEC]
    with pytest.raises(AssertionError, match="pending forever"):  # no nemesis thread: deadlock
        simulate(on_nemesis(once({"f": "x"})), ["u001"])


def test_each_process_gives_every_thread_its_own_copy():
    history = simulate(on_clients(each_process([once({"f": "login"}), once({"f": "logout"})])),
                       THREADS, latency=lambda op: MS)
    per_process = {}
    for op in invokes(history):
        per_process.setdefault(op.process, []).append(op.f)
    assert per_process == {0: ["login", "logout"], 1: ["login", "logout"],
                           2: ["login", "logout"]}


def test_any_of_prefers_whoever_has_an_op_and_ends_when_all_end():
    history = simulate(any_of(concat(sleep(1), once({"f": "late"})), once({"f": "now"})),
                       THREADS)
    assert [op.f for op in invokes(history)] == ["now", "late"]


def test_from_schedule_emits_at_offsets_from_phase_start():
    steps = [{"at_s": 1.0, "f": "start-partition", "value": {"grudge": {}}},
             {"at_s": 2.5, "f": "stop-partition", "value": {}}]
    history = simulate(concat(sleep(1), on_nemesis(from_schedule(steps))), THREADS)
    assert [(op.f, op.time) for op in invokes(history)] == [("start-partition", 2 * SEC),
                                                              ("stop-partition", 3.5 * SEC)]


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 2**32), dt_ms=st.integers(1, 200), limit_s=st.integers(1, 5),
       latency_ms=st.integers(0, 300))
def test_property_never_busy_and_within_limit(seed, dt_ms, limit_s, latency_ms):
    gen = time_limit(limit_s, clients(stagger(dt_ms / 1000, mix([repeat({"f": "a"}),
                                                                  repeat({"f": "b"})], seed),
                                              seed),
                                      cycle([sleep(0.5), once({"f": "n"})])))
    # simulate raises if an op is emitted for a busy thread
    history = simulate(gen, THREADS, latency=lambda op: latency_ms * MS, seed=seed)
    assert all(op.time < limit_s * SEC for op in invokes(history))
    open_ops = {}
    for op in history:
        if op.type == "invoke":
            assert op.process not in open_ops
            open_ops[op.process] = op
        else:
            assert open_ops.pop(op.process).f == op.f


def test_waits_for_a_time_only_are_declared_and_kept_by_the_combinators():
    """`Pending.time_only`: what waits for a time only says so, routing and time limits keep
    it, a merge keeps it only if every branch waits for a time only, and a generator waiting
    for a free thread never claims it."""
    workers = {"u001": 0, "nemesis": "nemesis"}
    ctx = Context(0, frozenset(workers), workers)
    gen = time_limit(10, stagger(1, repeat({"f": "w"}), seed=1))
    op, gen = gen.op(ctx)
    assert op.f == "w"
    wait, gen = gen.op(Context(1, frozenset({"nemesis"}), workers))
    assert wait.wake_at is not None and wait.time_only
    assert gen.op(Context(2, frozenset({"u001", "nemesis"}), workers))[1] is gen  # same answer
    assert on_clients(gen).op(ctx)[0].time_only
    assert sleep(1).op(ctx)[0] == Pending(SEC, time_only=True)
    busy = once({"f": "x"})  # waits for a free thread
    assert not busy.op(Context(0, frozenset(), workers))[0].time_only
    assert not time_limit(5, busy).op(Context(0, frozenset(), workers))[0].time_only
    assert any_of(sleep(1), sleep(2)).op(ctx)[0] == Pending(SEC, time_only=True)
    assert any_of(sleep(1), on_clients(busy)).op(Context(0, frozenset(), workers))[0] == \
        Pending(SEC, time_only=False)
    nemesis_wait = from_schedule([{"at_s": 3, "f": "start", "value": None}])
    assert nemesis_wait.op(ctx)[0] == Pending(3 * SEC, time_only=True)
