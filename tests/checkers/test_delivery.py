"""Hand-built histories with known answers for the delivery checker."""

from __future__ import annotations

from histories import MS, History
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers import check_delivery, check_stats


def two_users_online() -> History:
    history = History()
    history.login("a", "dc1")
    history.login("b", "dc2")
    return history


def test_every_acknowledged_message_received_is_valid() -> None:
    history = two_users_online()
    history.send("m1", "a", "b")
    history.recv("b", "m1", "a")
    history.send("m2", "b", "a", dc="dc2")
    history.recv("a", "m2", "b")
    result = check_delivery(history.ops)
    assert result["valid"] is True
    assert (result["attempted"], result["acknowledged"], result["delivered"]) == (2, 2, 2)
    for name in ("lost", "recovered", "unexpected", "misdelivered", "duplicated"):
        assert result[name] == [] and result[f"{name}_count"] == 0


def test_acknowledged_never_received_by_online_recipient_is_lost() -> None:
    history = two_users_online()
    history.send("m2", "a", "b")
    history.send("m1", "a", "b")
    history.send("m3", "a", "b")
    history.recv("b", "m3", "a")
    result = check_delivery(history.ops)
    assert result["valid"] is False
    assert result["lost"] == ["m1", "m2"]
    assert result["lost_count"] == 2
    assert result["delivered"] == 1
    assert result["per_dc"] == {"dc1": {"attempted": 3, "acknowledged": 3, "delivered": 1,
                                        "lost": 2}}


def test_recipient_offline_at_end_makes_the_verdict_unknown_naming_them() -> None:
    """A failed recovery (a user still offline at the end) must not read as a pass."""
    history = two_users_online()
    history.send("m1", "a", "b")
    history.logout("b")
    result = check_delivery(history.ops)
    assert result["valid"] == "unknown"
    assert "offline_at_end" in result["reason"]
    assert result["lost"] == []
    assert result["unverifiable"] == ["m1"]
    assert result["offline_at_end"] == ["b"] and result["offline_at_end_count"] == 1


def test_offline_at_the_end_after_receiving_everything_changes_nothing() -> None:
    history = two_users_online()
    history.send("m1", "a", "b")
    history.recv("b", "m1", "a")
    history.logout("b")
    history.logout("a")
    result = check_delivery(history.ops)
    assert result["valid"] is True
    assert result["offline_at_end"] == [] and result["unverifiable"] == []


def test_a_lost_message_beats_an_offline_recipient() -> None:
    history = two_users_online()
    history.send("m1", "a", "b")
    history.send("m2", "b", "a")
    history.logout("b")
    result = check_delivery(history.ops)
    assert result["valid"] is False
    assert result["lost"] == ["m2"] and result["offline_at_end"] == ["b"]


def test_recipient_who_logs_back_in_counts_as_online() -> None:
    history = two_users_online()
    history.send("m1", "a", "b")
    history.logout("b")
    history.login("b", "dc3")
    result = check_delivery(history.ops)
    assert result["lost"] == ["m1"]


def test_recipient_who_never_logged_in_is_not_online() -> None:
    history = History()
    history.login("a", "dc1")
    history.send("m1", "a", "c")
    result = check_delivery(history.ops)
    assert result["lost"] == []
    assert result["valid"] == "unknown" and result["offline_at_end"] == ["c"]


def test_indeterminate_sends_are_recovered_when_received_and_never_lost() -> None:
    history = two_users_online()
    history.send("m1", "a", "b", outcome="info")
    history.recv("b", "m1", "a")
    history.send("m2", "a", "b", outcome="info")
    history.invoke_send("m3", "a", "b")  # never completed: a crashed run
    history.recv("b", "m3", "a")
    result = check_delivery(history.ops)
    assert result["valid"] is True
    assert result["recovered"] == ["m1", "m3"]
    assert result["recovered_count"] == 2
    assert result["lost"] == []
    assert result["acknowledged"] == 0


def test_received_but_never_sent_is_unexpected() -> None:
    history = two_users_online()
    history.recv("b", "ghost", "a")
    result = check_delivery(history.ops)
    assert result["valid"] is False
    assert result["unexpected"] == ["ghost"]
    assert result["unexpected_count"] == 1


def test_received_by_someone_else_is_misdelivered() -> None:
    history = two_users_online()
    history.login("c", "dc1")
    history.send("m1", "a", "b")
    history.recv("c", "m1", "a", to="b")
    history.recv("b", "m1", "a")
    result = check_delivery(history.ops)
    assert result["valid"] is False
    assert result["misdelivered"] == ["m1"]
    assert result["misdelivered_count"] == 1
    assert result["lost"] == []
    assert result["duplicated"] == []


def test_duplicates_fail_only_under_exactly_once() -> None:
    history = two_users_online()
    history.send("m1", "a", "b")
    history.recv("b", "m1", "a")
    history.recv("b", "m1", "a", dc="dc2", via="offline")
    history.recv("b", "m1", "a")
    history.send("m2", "a", "b")
    history.recv("b", "m2", "a")
    at_least_once = check_delivery(history.ops, [])
    assert at_least_once["valid"] is True
    assert at_least_once["duplicated"] == ["m1"]
    assert at_least_once["duplicated_count"] == 1
    assert at_least_once["duplicate_receipts"] == 2
    # no tomb was ever logged and the last receipt came ~3 s after the first (see item 7 below)
    history.recv("b", "m1", "a", dc="dc2", at_ms=history.now / MS + 3000)
    exactly_once = check_delivery(history.ops, [], {"exactly_once": True})
    assert exactly_once["valid"] is False
    assert exactly_once["duplicated"] == ["m1"]
    assert exactly_once["duplicated_avoidable"] == ["m1"]


def test_a_failed_send_that_arrives_is_invalid() -> None:
    """`fail` means it certainly did not happen (as in Jepsen's set checkers)."""
    history = two_users_online()
    history.send("m1", "a", "b", outcome="fail")
    history.recv("b", "m1", "a")
    history.send("m2", "a", "b", outcome="fail")  # failed and never arrived: fine
    result = check_delivery(history.ops)
    assert result["failed_delivered"] == ["m1"] and result["failed_delivered_count"] == 1
    assert result["recovered"] == []
    assert result["valid"] is False


def test_a_receipt_with_another_sender_is_corrupted() -> None:
    history = two_users_online()
    history.login("c", "dc1")
    history.send("m1", "a", "b")
    history.recv("b", "m1", "c")  # the right recipient, the wrong `from`
    history.send("m2", "a", "b")
    history.recv("b", "m2", "a")
    result = check_delivery(history.ops)
    assert result["valid"] is False
    assert result["corrupted"] == ["m1"] and result["corrupted_count"] == 1
    assert result["misdelivered"] == [] and result["lost"] == []


def test_an_id_retried_after_info_and_acknowledged_counts_as_acknowledged() -> None:
    history = two_users_online()
    history.send("m1", "a", "b", outcome="info")
    history.send("m1", "a", "b", outcome="ok")  # the client's retry of the same id
    history.send("m2", "a", "b", outcome="info")
    history.send("m2", "a", "b", outcome="ok")
    history.recv("b", "m2", "a")
    history.send("m3", "a", "b", outcome="fail")
    history.send("m3", "a", "b", outcome="info")  # a retry after a fail: indeterminate again
    history.recv("b", "m3", "a")
    result = check_delivery(history.ops)
    assert result["acknowledged"] == 2 and result["attempted"] == 3
    assert result["lost"] == ["m1"] and result["valid"] is False
    assert result["recovered"] == ["m3"] and result["failed_delivered"] == []
    stats = check_stats(history.ops)["by_f"]["send"]
    assert (stats["invoke"], stats["ok"], stats["info"], stats["fail"]) == (6, 2, 3, 1)


def test_an_id_never_sent_received_by_the_wrong_user_is_one_finding() -> None:
    history = two_users_online()
    history.recv("a", "ghost", "a", to="b")
    history.recv("a", "ghost2", "a", to="b", at_ms=10)
    history.send("m1", "a", "b")
    history.recv("b", "m1", "a")
    result = check_delivery(history.ops)
    assert result["valid"] is False
    assert result["unexpected"] == ["ghost", "ghost2"]
    assert result["misdelivered"] == []


def test_latency_from_invocation_to_first_receipt_split_by_via() -> None:
    history = two_users_online()
    history.invoke_send("m1", "a", "b", at_ms=100)
    history.complete_send("m1", "a", "b", at_ms=105)
    history.recv("b", "m1", "a", via="online", at_ms=130)
    history.recv("b", "m1", "a", via="offline", at_ms=900)  # a duplicate: not the first
    history.invoke_send("m2", "a", "b", at_ms=1000)
    history.complete_send("m2", "a", "b", at_ms=1001)
    history.recv("b", "m2", "a", via="offline", at_ms=1250)
    latency = check_delivery(history.ops)["latency"]
    assert latency["online"] == {"count": 1, "p50": 30.0, "p95": 30.0, "p99": 30.0, "max": 30.0}
    assert latency["offline"]["max"] == 250.0 and latency["offline"]["count"] == 1
    assert latency["overall"]["count"] == 2
    assert latency["overall"]["p50"] == 30.0 and latency["overall"]["max"] == 250.0


def test_missing_history_is_unknown_and_empty_history_is_vacuously_valid() -> None:
    missing = check_delivery(None)
    assert missing["valid"] == "unknown" and missing["reason"]
    empty = check_delivery([])
    assert empty["valid"] is True
    assert (empty["attempted"], empty["lost_count"]) == (0, 0)
    assert empty["latency"]["overall"]["p50"] is None


ids = st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=40, unique=True)


@settings(max_examples=60, deadline=None)
@given(ids=ids, data=st.data())
def test_delivering_every_acknowledged_message_is_valid_and_dropping_one_loses_exactly_it(
    ids: list[int], data: st.DataObject
) -> None:
    users = ["a", "b", "c"]
    history = History()
    for user in users:
        history.login(user, "dc1")
    messages = []
    for number in ids:
        sender = data.draw(st.sampled_from(users))
        recipient = data.draw(st.sampled_from(users))
        messages.append((f"m{number}", sender, recipient))
        history.send(f"m{number}", sender, recipient)
    dropped = data.draw(st.sampled_from(messages))
    full = History()
    full.ops = list(history.ops)
    full.now = history.now
    for msg_id, sender, recipient in messages:
        full.recv(recipient, msg_id, sender)
        if (msg_id, sender, recipient) != dropped:
            history.recv(recipient, msg_id, sender)
    assert check_delivery(full.ops)["valid"] is True
    result = check_delivery(history.ops)
    assert result["valid"] is False
    assert result["lost"] == [dropped[0]]


def test_a_receipt_recorded_before_its_send_invocation_still_counts() -> None:
    history = two_users_online()
    history.recv("b", "m1", "a")
    history.recv("b", "m1", "a")
    history.recv("a", "m1", "a", to="b")
    history.recv("b", "ghost", "a")
    history.recv("b", "ghost", "a")
    history.send("m1", "a", "b")
    result = check_delivery(history.ops)
    assert result["delivered"] == 1 and result["lost"] == []
    assert result["duplicated"] == ["ghost", "m1"]
    assert result["misdelivered"] == ["m1"]
    assert result["unexpected"] == ["ghost"]
    assert result["duplicate_receipts"] == 2
