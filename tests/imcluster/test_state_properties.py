"""Unit and Hypothesis property tests of the replicated state (imcluster._state.ReplicaState)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from imcluster._state import Entry, ReplicaState

ORIGINS = ("dc1", "dc2", "dc3")
USERS = ("u1", "u2", "u3")
IDS = ("m1", "m2", "m3", "m4")


@st.composite
def entry_sets(draw: st.DrawFn) -> list[Entry]:
    """A consistent universe of updates: each dot has exactly one entry."""
    out: list[Entry] = []
    for origin in ORIGINS:
        for seq in range(1, draw(st.integers(0, 6)) + 1):
            kind = draw(st.sampled_from(("coord", "msg", "tomb")))
            hlc = (draw(st.integers(0, 5)), draw(st.integers(0, 2)))
            if kind == "coord":
                key = draw(st.sampled_from(USERS))
                data = {"dc": origin, "node": f"{origin}-a1", "conn": f"c{seq}",
                        "online": draw(st.booleans())}
            elif kind == "msg":
                key = draw(st.sampled_from(IDS))
                data = {"id": key, "from": "u1", "to": draw(st.sampled_from(USERS)), "body": "",
                        "sent_at": 0}
            else:  # a tomb names its message: (id, from, to)
                key = draw(st.sampled_from(IDS))
                data = {"from": "u1", "to": draw(st.sampled_from(USERS))}
            out.append(Entry(kind, key, origin, seq, hlc, data))
    return out


def replica(entries: list[Entry]) -> ReplicaState:
    state = ReplicaState()
    for entry in entries:
        state.apply(entry)
    return state


def subsets(universe: list[Entry], draw: st.DrawFn) -> list[Entry]:
    return [e for e in universe if draw(st.booleans())]


@st.composite
def three_replicas(draw: st.DrawFn) -> tuple[list[Entry], ...]:
    universe = draw(entry_sets())
    return tuple(draw(st.permutations(subsets(universe, draw))) for _ in range(3))


def merged(*states: ReplicaState) -> ReplicaState:
    out = ReplicaState()
    for state in states:
        out.merge(state)
    return out


@given(three_replicas())
def test_merge_is_commutative(reps: tuple[list[Entry], ...]) -> None:
    a, b = replica(reps[0]), replica(reps[1])
    ab, ba = replica(reps[0]), replica(reps[1])
    ab.merge(b)
    ba.merge(a)
    assert ab.snapshot() == ba.snapshot()


@given(three_replicas())
def test_merge_is_associative(reps: tuple[list[Entry], ...]) -> None:
    a, b, c = (replica(r) for r in reps)
    left = merged(merged(a, b), c)
    right = merged(a, merged(b, c))
    assert left.snapshot() == right.snapshot()


@given(three_replicas())
def test_merge_is_idempotent(reps: tuple[list[Entry], ...]) -> None:
    a, b = replica(reps[0]), replica(reps[1])
    before = a.snapshot()
    assert a.merge(replica(reps[0])) == 0
    assert a.snapshot() == before
    a.merge(b)
    once = a.snapshot()
    assert a.merge(b) == 0
    assert a.snapshot() == once


@settings(max_examples=200)
@given(st.data())
def test_any_delivery_order_with_duplicates_converges(data: st.DataObject) -> None:
    universe = data.draw(entry_sets())
    reference = replica(universe).snapshot()
    for _ in range(3):
        order = data.draw(st.permutations(universe))
        duplicates = data.draw(st.lists(st.sampled_from(universe), max_size=5)) if universe else []
        state = replica(list(order) + duplicates)
        assert state.snapshot() == reference
        assert {e.dot for e in state.entries()} == {e.dot for e in universe}


@given(entry_sets(), st.data())
def test_missing_for_brings_a_replica_up_to_date(universe: list[Entry], data: st.DataObject) -> None:
    full = replica(universe)
    partial = replica(subsets(universe, data.draw))
    for _ in range(len(universe) + 1):
        batch = full.missing_for(partial.version_vector(), max_entries=2, max_bytes=10_000)
        assert len(batch) <= 2
        for origin in {e.origin for e in batch}:
            seqs = [e.seq for e in batch if e.origin == origin]
            assert seqs == sorted(seqs)
        for entry in batch:
            partial.apply(entry)
        if not batch:
            break
    assert partial.snapshot() == full.snapshot()


def test_version_vector_counts_contiguous_seqs_only() -> None:
    state = ReplicaState()
    mk = lambda seq: Entry("tomb", f"m{seq}", "dc1", seq, (seq, 0), {"from": "a", "to": "b"})
    assert state.apply(mk(1)) and state.apply(mk(3))
    assert state.version_vector() == {"dc1": 1}
    assert state.max_seq("dc1") == 3
    assert [e.seq for e in state.missing_for({})] == [1, 3]
    assert [e.seq for e in state.missing_for({"dc1": 1})] == [3]
    assert state.apply(mk(2)) and not state.apply(mk(2))
    assert state.version_vector() == {"dc1": 3}
    assert state.missing_for({"dc1": 3}) == []


def test_missing_for_is_bounded_by_bytes_and_round_robin() -> None:
    state = ReplicaState()
    for origin in ("dc1", "dc2"):
        for seq in range(1, 11):
            state.apply(Entry("msg", f"{origin}-{seq}", origin, seq, (seq, 0),
                              {"id": f"{origin}-{seq}", "from": "a", "to": "b",
                               "body": "x" * 1000, "sent_at": 0}))
    batch = state.missing_for({}, max_entries=256, max_bytes=4000)
    assert 1 <= len(batch) <= 4
    assert {e.origin for e in batch} == {"dc1", "dc2"}
    assert len(state.missing_for({}, max_entries=5)) == 5
    assert len(state.missing_for({}, max_entries=256, max_bytes=1)) == 1


def test_lww_coordinates_tie_break_and_pending() -> None:
    state = ReplicaState()
    state.apply(Entry("coord", "bob", "dc2", 1, (10, 0), {"dc": "dc2", "online": True}))
    state.apply(Entry("coord", "bob", "dc1", 1, (10, 0), {"dc": "dc1", "online": True}))
    assert state.coordinate("bob") == {"dc": "dc2", "online": True}  # tie -> larger dc name
    state.apply(Entry("coord", "bob", "dc1", 2, (11, 0), {"dc": "dc1", "online": False}))
    assert state.coordinate("bob") == {"dc": "dc1", "online": False}
    assert state.coordinate("alice") is None
    msg = {"id": "m1", "from": "a", "to": "bob", "body": "", "sent_at": 0}
    mark = {"from": "a", "to": "bob"}
    state.apply(Entry("tomb", "m2", "dc3", 1, (1, 0), mark))
    state.apply(Entry("msg", "m1", "dc1", 3, (12, 0), msg))
    state.apply(Entry("msg", "m2", "dc1", 4, (13, 0), dict(msg, id="m2")))
    assert [e.key for e in state.pending_for("bob")] == ["m1"]
    state.apply(Entry("tomb", "m1", "dc2", 2, (14, 0), mark))
    assert state.pending_for("bob") == []
    assert state.tombs == {("m1", "a", "bob"), ("m2", "a", "bob")}


def test_one_id_from_two_senders_is_two_messages() -> None:
    """Issue 9, item 6: ids are the clients'; two DCs cut apart may both accept one id. Keyed by
    (id, from, to), neither message replaces the other, and a tomb marks only its own."""
    state = ReplicaState()
    state.apply(Entry("msg", "m1", "dc1", 1, (5, 0),
                      {"id": "m1", "from": "alice", "to": "bob", "body": "1", "sent_at": 0}))
    state.apply(Entry("msg", "m1", "dc2", 1, (4, 0),
                      {"id": "m1", "from": "carol", "to": "bob", "body": "2", "sent_at": 0}))
    state.apply(Entry("msg", "m1", "dc2", 2, (6, 0),
                      {"id": "m1", "from": "carol", "to": "dave", "body": "3", "sent_at": 0}))
    assert [e.data["body"] for e in state.pending_for("bob")] == ["2", "1"]
    assert len(state.messages_with_id("m1")) == 3
    state.apply(Entry("tomb", "m1", "dc1", 2, (7, 0), {"from": "alice", "to": "bob"}))
    assert [e.data["from"] for e in state.pending_for("bob")] == ["carol"]
    assert [e.data["body"] for e in state.pending_for("dave")] == ["3"]


def test_entry_json_round_trip_and_rejects_malformed() -> None:
    entry = Entry("coord", "bob", "dc1", 3, (5, 1),
                  {"dc": "dc1", "node": "dc1-a1", "conn": "dc1-a1:1", "online": True})
    assert Entry.from_json(entry.to_json()) == entry
    msg = Entry("msg", "m1", "dc1", 4, (6, 0),
                {"id": "m1", "from": "a", "to": "b", "body": "", "sent_at": 1})
    assert Entry.from_json(msg.to_json()) == msg
    surrogate = "\ud800"
    for bad in ({}, {**entry.to_json(), "kind": "x"}, {**entry.to_json(), "seq": 0},
                {**entry.to_json(), "seq": True}, {**entry.to_json(), "hlc": [1]},
                {**entry.to_json(), "data": []}, {**entry.to_json(), "key": 3}, [], None,
                # what JSON allows but UTF-8 (and so SQLite and the wire) cannot carry
                {**entry.to_json(), "key": surrogate}, {**entry.to_json(), "origin": surrogate},
                {**entry.to_json(), "data": {**entry.data, "conn": surrogate}},
                {**msg.to_json(), "data": {**msg.data, "body": "x" + surrogate}},
                # integers SQLite cannot store, names too long or empty, stray data
                {**entry.to_json(), "seq": 2**63}, {**entry.to_json(), "hlc": [2**64, 0]},
                {**entry.to_json(), "key": ""}, {**entry.to_json(), "origin": "o" * 257},
                {**entry.to_json(), "data": {"dc": "dc1"}},
                {**msg.to_json(), "key": "m2"}, {**msg.to_json(), "kind": "tomb"},
                {**msg.to_json(), "data": {**msg.data, "sent_at": "now"}}):
        try:
            Entry.from_json(bad)  # type: ignore[arg-type]
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")
