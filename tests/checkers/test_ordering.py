"""Hand-built histories for the ordering checker."""

from __future__ import annotations

from histories import History
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers import check_ordering


def history_with_overtake() -> History:
    history = History()
    history.login("a", "dc1")
    history.login("b", "dc1")
    for msg_id in ("m1", "m2", "m3"):
        history.send(msg_id, "a", "b")
    history.send("n1", "b", "a")
    history.recv("b", "m1", "a")
    history.recv("b", "m3", "a")
    history.recv("b", "m2", "a")  # overtaken by m3
    history.recv("b", "m2", "a")  # a duplicate: not counted twice
    history.recv("a", "n1", "b")
    return history


def test_in_order_receipts_are_fine() -> None:
    history = History()
    history.login("a", "dc1")
    history.login("b", "dc1")
    history.send("m1", "a", "b")
    history.send("m2", "a", "b")
    history.recv("b", "m1", "a")
    history.recv("b", "m2", "a")
    result = check_ordering(history.ops)
    assert result["valid"] is True
    assert result["out_of_order"] == 0 and result["checked"] == 2 and result["pairs"] == 1


def test_an_overtaken_message_is_counted_with_an_example() -> None:
    result = check_ordering(history_with_overtake().ops)
    assert result["valid"] is True  # reported only, no bound given
    assert result["out_of_order"] == 1
    assert result["pairs_out_of_order"] == 1
    assert result["examples"] == [{"from": "a", "to": "b", "id": "m2", "after": "m3"}]
    assert result["pairs"] == 2


def test_a_bound_makes_it_a_verdict() -> None:
    ops = history_with_overtake().ops
    assert check_ordering(ops, None, {"max_out_of_order": 0})["valid"] is False
    assert check_ordering(ops, None, {"max_out_of_order": 1})["valid"] is True


def test_unknown_without_history() -> None:
    assert check_ordering(None)["valid"] == "unknown"
    assert check_ordering([])["out_of_order"] == 0


@settings(max_examples=80, deadline=None)
@given(st.permutations(list(range(8))))
def test_out_of_order_counts_receipts_below_an_earlier_maximum(order: list[int]) -> None:
    history = History()
    history.login("a", "dc1")
    history.login("b", "dc1")
    for number in range(8):
        history.send(f"m{number}", "a", "b")
    for number in order:
        history.recv("b", f"m{number}", "a")
    expected = sum(1 for i, number in enumerate(order) if number < max(order[: i + 1]))
    result = check_ordering(history.ops)
    assert result["out_of_order"] == expected
    assert (result["out_of_order"] == 0) == (order == sorted(order))
