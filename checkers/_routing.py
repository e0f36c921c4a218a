"""The routing checker: after recovery, does every DC route each online user to where it is?

For every user online at the end of the history (last `login` ok not followed by a `logout`),
every hub's coordinate for that user in `final.json` must be online and name the DC of that login
(and its access node and connection when the login's `ok` recorded them). Each mismatch is listed
in `wrong` as `{user, dc_view, expected, found}`. `"unknown"` without `final.json` or history, or
when some hub gave no coordinate table (unreachable at the end) and the others are all right.
"""

from __future__ import annotations

from typing import Any

from ._index import HistoryIndex, Op, index_history
from ._util import unknown

_COMPARED = ("dc", "node", "conn")


def check_routing(
    history: list[Op] | HistoryIndex | None,
    events: list[Op] | None = None,
    options: dict[str, Any] | None = None,
    final: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Compare each hub's final coordinate table with where the history says users are."""
    if history is None:
        return unknown("no history")
    if not final or not isinstance(final.get("hubs"), dict):
        return unknown("no final.json")
    index = index_history(history)
    hubs: dict[str, Any] = final["hubs"]
    wrong: list[dict[str, Any]] = []
    checked = 0
    tables: dict[Any, Any] = {dc: hub.get("coords") for dc, hub in hubs.items()
                             if isinstance(hub, dict)}
    unreachable = sorted((dc for dc in hubs if not isinstance(tables.get(dc), dict)), key=str)
    readable = sorted((dc for dc in hubs if isinstance(tables.get(dc), dict)), key=str)
    for user in sorted(index.online, key=str):
        login = index.online[user]
        expected = {key: login.get(key) for key in _COMPARED if login.get(key) is not None}
        for dc_view in readable:
            found = tables[dc_view].get(user)
            checked += 1
            if not _matches(found, expected):
                wrong.append({"user": user, "dc_view": dc_view, "expected": expected,
                              "found": found})
    valid: bool | str = not wrong
    if valid and unreachable:
        valid = "unknown"
    result = {
        "valid": valid,
        "online_users": len(index.online),
        "hubs": len(hubs),
        "checked": checked,
        "wrong": wrong,
        "wrong_count": len(wrong),
        "wrong_users": sorted({item["user"] for item in wrong}, key=str),
        "unreachable_hubs": unreachable,
    }
    if valid == "unknown":
        result["reason"] = "no coordinate table from " + ", ".join(map(str, unreachable))
    return result


def _matches(found: Any, expected: dict[str, Any]) -> bool:
    if not isinstance(found, dict) or found.get("online") is False:
        return False
    return all(found.get(key) == value for key, value in expected.items())
