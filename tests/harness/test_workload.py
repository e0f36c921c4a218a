"""The IM workload generator in virtual time: users, sessions, locality, roaming, fail-over."""

from collections import Counter

from harness.generator import Context, Pending, simulate, stagger, time_limit
from harness.generators import Rng
from harness.workload import (
    UserWorkload,
    WorkloadSpec,
    home_dcs,
    pick_login_dc,
    recovery_logins,
    user_names,
)

DCS = ["dc1", "dc2", "dc3"]


def test_user_names_and_round_robin_homes():
    assert user_names(3) == ["u001", "u002", "u003"]
    assert user_names(1000)[0] == "u0001"
    assert home_dcs(user_names(4), DCS) == {"u001": "dc1", "u002": "dc2", "u003": "dc3",
                                            "u004": "dc1"}


def ctx_for(spec, sessions, down=(), free=None, t=0):
    threads = list(spec.users)
    workers = {u: i for i, u in enumerate(threads)}
    return Context(t, frozenset(free if free is not None else threads), workers, 0,
                   {"sessions": sessions, "down_dcs": list(down)})


def drive(spec, n, sessions, down=()):
    """Ask the generator n times with fixed facts; returns the ops."""
    gen, ops = UserWorkload.create(spec), []
    for i in range(n):
        value, gen = gen.op(ctx_for(spec, sessions, down, t=i))
        ops.append(value)
    return ops


def test_offline_users_log_in_online_users_send_or_log_out():
    spec = WorkloadSpec.build(9, DCS, roam=0.0, locality=0.7, seed=7)
    ops = drive(spec, 300, sessions={})
    assert {op.f for op in ops} == {"login"}
    assert all(op.value["dc"] == spec.home[op.value["user"]] for op in ops)  # roam 0: home
    everyone = {u: spec.home[u] for u in spec.users}
    ops = drive(spec, 2000, sessions=everyone)
    counts = Counter(op.f for op in ops)
    assert counts["login"] == 0 and counts["send"] > 1600 and 80 < counts["logout"] < 260
    sends = [op for op in ops if op.f == "send"]
    assert all(op.value["from"] != op.value["to"] for op in sends)
    assert len({op.value["id"] for op in sends}) == len(sends)
    assert sends[0].value["id"] == "m7-0" and sends[1].value["id"] == "m7-1"
    assert all(op.process == spec.users.index(op.value["from"]) for op in sends)


def test_locality_fraction():
    spec = WorkloadSpec.build(30, DCS, roam=0.0, locality=0.7, seed=1)
    sessions = {u: spec.home[u] for u in spec.users}
    sends = [op for op in drive(spec, 4000, sessions) if op.f == "send"]
    local = sum(spec.home[op.value["to"]] == op.value["dc"] for op in sends) / len(sends)
    # 0.7 local by choice + 1/3 of the other 0.3 by chance
    assert 0.74 < local < 0.86


def test_roaming_fraction_and_failover_avoids_down_dcs():
    spec = WorkloadSpec.build(30, DCS, roam=0.25, locality=0.7, seed=2)
    logins = drive(spec, 3000, sessions={})
    away = sum(op.value["dc"] != spec.home[op.value["user"]] for op in logins) / len(logins)
    assert 0.2 < away < 0.3
    logins = drive(spec, 500, sessions={}, down=["dc1"])
    assert all(op.value["dc"] != "dc1" for op in logins)
    dc, _ = pick_login_dc(spec, "u001", Rng(0), frozenset(DCS))  # all down: still tries one
    assert dc in DCS


def test_pending_when_no_user_is_free():
    spec = WorkloadSpec.build(3, DCS, 0.1, 0.7, 0)
    value, _ = UserWorkload.create(spec).op(ctx_for(spec, {}, free=[]))
    assert isinstance(value, Pending)


def test_same_seed_same_ops_in_virtual_time():
    def run(seed):
        spec = WorkloadSpec.build(10, DCS, 0.1, 0.7, seed)
        gen = time_limit(2, stagger(0.02, UserWorkload.create(spec), seed=seed))
        return [(op.time, op.f, op.value) for op in simulate(gen, list(spec.users))
                if op.type == "invoke"]
    assert run(3) == run(3) != run(4)


def test_recovery_logs_every_offline_user_in_once():
    spec = WorkloadSpec.build(6, DCS, 0.5, 0.7, 0)
    sessions = {"u001": "dc2"}
    gen, seen = recovery_logins(spec), []
    free = set(spec.users)
    while True:
        result = gen.op(ctx_for(spec, dict(sessions), down=["dc3"], free=free))
        if result is None:
            break
        op, gen = result
        if isinstance(op, Pending):
            break
        seen.append(op.value["user"])
        sessions[op.value["user"]] = op.value["dc"]
        assert op.value["dc"] != "dc3"
    assert sorted(seen) == [u for u in spec.users if u != "u001"]
    assert gen.op(ctx_for(spec, sessions)) is None


def test_recipient_is_never_the_sender_even_when_alone_in_the_dc():
    from harness.workload import pick_recipient
    spec = WorkloadSpec.build(2, DCS, 0.0, 1.0, 0)  # u001 alone in dc1, u002 alone in dc2
    rng = Rng(1)
    for _ in range(200):
        to, rng = pick_recipient(spec, "u001", "dc1", rng)
        assert to == "u002"
    spec = WorkloadSpec.build(10, DCS, 0.0, 0.5, 0)
    seen = set()
    for _ in range(2000):
        to, rng = pick_recipient(spec, "u004", "dc1", rng)
        assert to != "u004"
        seen.add(to)
    assert seen == set(spec.users) - {"u004"}  # everyone else is reachable
