"""Hand-built histories and final coordinate tables for the routing checker."""

from __future__ import annotations

from typing import Any

from histories import History

from checkers import check_routing


def coord(dc: str, node: str, conn: str, online: bool = True) -> dict[str, Any]:
    return {"dc": dc, "node": node, "conn": conn, "online": online}


def final_with(coords_by_dc: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {"time": 0, "converged": True,
            "hubs": {dc: {"node": f"{dc}-hub", "vv": {}, "coords": coords, "counters": {},
                          "pending": 0} for dc, coords in coords_by_dc.items()}}


def history_with_roaming() -> History:
    history = History()
    history.login("a", "dc1", "dc1-a1", "dc1-a1:1")
    history.login("b", "dc1", "dc1-a1", "dc1-a1:2")
    history.logout("b")
    history.login("b", "dc2", "dc2-a1", "dc2-a1:7")
    history.login("c", "dc2", "dc2-a1", "dc2-a1:8")
    history.logout("c")
    return history


def test_without_final_the_verdict_is_unknown() -> None:
    assert check_routing(history_with_roaming().ops, None, {}, None)["valid"] == "unknown"
    assert check_routing(None, None, {}, final_with({}))["valid"] == "unknown"


def test_every_hub_routes_every_online_user_to_its_login() -> None:
    right = {"a": coord("dc1", "dc1-a1", "dc1-a1:1"), "b": coord("dc2", "dc2-a1", "dc2-a1:7"),
             "c": coord("dc2", "dc2-a1", "dc2-a1:8", online=False)}
    result = check_routing(history_with_roaming().ops, None, {},
                           final_with({"dc1": right, "dc2": right}))
    assert result["valid"] is True
    assert result["online_users"] == 2
    assert result["checked"] == 4
    assert result["wrong"] == []


def test_a_stale_coordinate_for_a_roamed_user_is_wrong() -> None:
    right = {"a": coord("dc1", "dc1-a1", "dc1-a1:1"), "b": coord("dc2", "dc2-a1", "dc2-a1:7")}
    stale = {"a": coord("dc1", "dc1-a1", "dc1-a1:1"), "b": coord("dc1", "dc1-a1", "dc1-a1:2")}
    result = check_routing(history_with_roaming().ops, None, {},
                           final_with({"dc1": stale, "dc2": right}))
    assert result["valid"] is False
    assert result["wrong_count"] == 1
    wrong = result["wrong"][0]
    assert (wrong["user"], wrong["dc_view"]) == ("b", "dc1")
    assert wrong["expected"] == {"dc": "dc2", "node": "dc2-a1", "conn": "dc2-a1:7"}
    assert wrong["found"]["dc"] == "dc1"
    assert result["wrong_users"] == ["b"]


def test_missing_or_offline_coordinates_are_wrong() -> None:
    history = History()
    history.login("a", "dc1")  # no node/conn recorded: only the DC is compared
    final = final_with({"dc1": {"a": coord("dc1", "x", "y")},
                        "dc2": {},
                        "dc3": {"a": coord("dc1", "x", "y", online=False)}})
    result = check_routing(history.ops, None, {}, final)
    assert [item["dc_view"] for item in result["wrong"]] == ["dc2", "dc3"]
    assert result["wrong"][0]["found"] is None


def test_an_unreachable_hub_makes_routing_unknown_unless_another_is_wrong() -> None:
    history = History()
    history.login("a", "dc1")
    final = final_with({"dc1": {"a": coord("dc1", "x", "y")}, "dc2": {}})
    final["hubs"]["dc2"] = {"node": "dc2-hub", "vv": None, "coords": None, "counters": None,
                            "pending": None, "error": "unreachable"}
    result = check_routing(history.ops, None, {}, final)
    assert result["valid"] == "unknown"
    assert result["unreachable_hubs"] == ["dc2"] and "dc2" in result["reason"]
    final["hubs"]["dc1"]["coords"]["a"]["dc"] = "dc3"
    assert check_routing(history.ops, None, {}, final)["valid"] is False
