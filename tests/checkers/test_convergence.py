"""Hand-built event logs with known answers for the convergence checker."""

from __future__ import annotations

import math
from typing import Any

from histories import MS, History

from checkers import check_convergence, theory_rounds

DCS = ["dc1", "dc2", "dc3"]


def event(t_ms: float, dc: str, kind: str, origin: str, seq: int) -> dict[str, Any]:
    return {"time": int(t_ms * MS), "dc": dc, "node": f"{dc}-hub", "event": kind, "kind": "msg",
            "key": f"k{seq}", "origin": origin, "seq": seq}


def spread(
    origin: str, seq: int, at_ms: float, delays_ms: dict[str, float]
) -> list[dict[str, Any]]:
    events = [event(at_ms, origin, "originate", origin, seq)]
    events += [event(at_ms + delay, dc, "apply", origin, seq) for dc, delay in delays_ms.items()]
    return events


OPTIONS = {"dc_names": DCS, "gossip_interval": 100}


def final_of(vvs: dict[str, Any], converged: bool = True) -> dict[str, Any]:
    """A `final.json` with these hubs' version vectors (`None`: unreachable)."""
    hubs = {dc: ({"node": f"{dc}-hub", "vv": vv} if vv is not None
                 else {"node": f"{dc}-hub", "vv": None, "error": "unreachable"})
            for dc, vv in vvs.items()}
    return {"time": 1, "hubs": hubs, "converged": converged}


AGREED = final_of({dc: {"dc1": 1, "dc2": 1} for dc in DCS})


def test_without_events_the_verdict_is_unknown() -> None:
    result = check_convergence([], None, OPTIONS)
    assert result["valid"] == "unknown"
    assert "events" in result["reason"]


def test_dots_applied_everywhere_converge_with_exact_quantiles() -> None:
    events = spread("dc1", 1, 0, {"dc2": 200, "dc3": 400})
    events += spread("dc2", 1, 1000, {"dc1": 100, "dc3": 300})
    events.sort(key=lambda item: item["time"])
    result = check_convergence([], events, OPTIONS, AGREED)
    assert result["valid"] is True
    assert result["dots"] == 2 and result["converged"] == 2
    assert result["unconverged"] == []
    assert result["ms"] == {"count": 2, "p50": 300.0, "p95": 400.0, "p99": 400.0, "max": 400.0}
    assert result["rounds"]["p50"] == 3.0 and result["rounds"]["max"] == 4.0
    assert result["mean_ms"] == 350.0
    assert result["theory_rounds"] == round(math.log2(3) + math.log(3), 3)


def test_a_dot_missing_in_one_dc_is_unconverged() -> None:
    events = spread("dc1", 1, 0, {"dc2": 200, "dc3": 400})
    events += spread("dc1", 2, 10, {"dc2": 200})
    events += spread("dc3", 7, 20, {"dc1": 5})
    result = check_convergence([], events, OPTIONS)
    assert result["valid"] is False
    assert result["unconverged"] == ["dc1:2", "dc3:7"]
    assert result["unconverged_count"] == 2
    assert result["ms"]["count"] == 1


def test_a_dc_without_any_event_leaves_every_dot_unconverged() -> None:
    events = spread("dc1", 1, 0, {"dc2": 50})
    result = check_convergence([], events, {"dc_names": ["dc1", "dc2", "dc4"]})
    assert result["unconverged"] == ["dc1:1"]


def test_dc_names_default_to_those_seen_in_events() -> None:
    events = spread("dc1", 1, 0, {"dc2": 50})
    result = check_convergence([], events, {}, final_of({"dc1": {"dc1": 1}, "dc2": {"dc1": 1}}))
    assert result["valid"] is True and result["dcs"] == ["dc1", "dc2"]
    assert result["gossip_interval_ms"] == 100.0


def test_time_to_converge_after_each_heal() -> None:
    history = History()
    history.nemesis("start-partition", {"grudge": {"dc3": ["dc1", "dc2"]}}, at_ms=0)
    history.nemesis("stop-partition", None, at_ms=1000)  # completes at 1001 ms
    history.nemesis("kill", None, at_ms=5000)
    history.nemesis("start", None, at_ms=6000)  # completes at 6001 ms
    events = spread("dc1", 1, 100, {"dc2": 100, "dc3": 1500})  # held everywhere at 1600 ms
    events += spread("dc1", 2, 2000, {"dc2": 100, "dc3": 100})  # after the first heal
    events += spread("dc2", 1, 5500, {"dc1": 100})  # never reaches dc3
    result = check_convergence(history.ops, events, OPTIONS)
    heals = result["heals"]
    assert [heal["f"] for heal in heals] == ["stop-partition", "start"]
    assert heals[0]["time_ms"] == 1001.0
    assert heals[0]["dots"] == 1
    assert heals[0]["converged_after_ms"] == 599.0
    assert heals[1]["dots"] == 3
    assert heals[1]["converged_after_ms"] is None


def test_wan_messages_per_update_from_final_counters() -> None:
    events = spread("dc1", 1, 0, {"dc2": 1, "dc3": 1}) + spread("dc2", 1, 0, {"dc1": 1, "dc3": 1})
    final = {"hubs": {dc: {"counters": {"wan_frames_sent": 3}} for dc in DCS}}
    result = check_convergence([], events, OPTIONS, final)
    assert result["wan_frames_sent"] == 9
    assert result["wan_messages_per_update"] == 4.5
    assert check_convergence([], events, OPTIONS)["wan_messages_per_update"] is None


def test_wan_frames_and_bytes_per_update_by_kind() -> None:
    events = spread("dc1", 1, 0, {"dc2": 1, "dc3": 1}) + spread("dc2", 1, 0, {"dc1": 1, "dc3": 1})
    counters = {"wan_frames_sent": 3, "wan_bytes_sent": 300, "wan_frames_dropped": 7,
                "wan_frames_push": 2,
                "wan_bytes_push": 200, "wan_frames_digest": 1, "wan_bytes_digest": 100}
    final = {"hubs": {dc: {"counters": counters} for dc in DCS}}
    assert check_convergence([], events, OPTIONS, final)["wan_per_update_by_kind"] == {
        "digest": {"bytes": 150.0, "frames": 1.5}, "push": {"bytes": 300.0, "frames": 3.0}}
    assert check_convergence([], events, OPTIONS)["wan_per_update_by_kind"] == {}


def test_theory_for_five_dcs_matches_design() -> None:
    assert theory_rounds(5) == 3.931
    names = [f"dc{i}" for i in range(1, 6)]
    result = check_convergence([], [], {"dc_names": names}, final_of({dc: {} for dc in names}))
    assert result["valid"] is True and result["dots"] == 0
    assert result["theory_rounds"] == 3.931
    assert result["design_figures_n5"]["push_pull_p99_rounds"] == 4


def test_malformed_events_do_not_crash() -> None:
    events: list[Any] = spread("dc1", 1, 0, {"dc2": 1, "dc3": 2})
    events += [{"time": 5}, "junk", {"time": "x", "dc": ["dc1"], "origin": {}, "seq": 3}]
    result = check_convergence([], events, OPTIONS)
    assert result["converged"] == 1
    assert result["valid"] is False  # the malformed dots are held nowhere near everywhere


def test_quantiles_per_entry_kind() -> None:
    events = spread("dc1", 1, 0, {"dc2": 100, "dc3": 300})
    events += spread("dc1", 2, 0, {"dc2": 50, "dc3": 50})
    events[-3]["kind"] = "coord"  # the originate of dc1:2
    result = check_convergence([], events, OPTIONS)
    assert result["by_kind_ms"]["msg"]["max"] == 300.0
    assert result["by_kind_ms"]["coord"] == {"count": 1, "p50": 50.0, "p95": 50.0, "p99": 50.0,
                                             "max": 50.0}


def test_final_version_vectors_that_differ_make_it_invalid_whatever_the_events_say() -> None:
    events = spread("dc1", 1, 0, {"dc2": 200, "dc3": 400})  # every DC logged an apply
    final = final_of({"dc1": {"dc1": 3, "dc2": 5}, "dc2": {"dc1": 1, "dc2": 5},
                      "dc3": {"dc2": 5}}, converged=False)
    result = check_convergence([], events, OPTIONS, final)
    assert result["valid"] is False
    assert result["unconverged"] == []
    assert result["final_vv_differ"] == {"dc1": {"dc1": 3, "dc2": 1, "dc3": 0}}
    assert result["final_dcs_behind"] == ["dc2", "dc3"]
    assert result["final_converged"] is False
    assert check_convergence([], None, OPTIONS, final)["valid"] is False  # no events: still


def test_a_hub_reporting_not_converged_makes_it_invalid() -> None:
    events = spread("dc1", 1, 0, {"dc2": 200, "dc3": 400})
    final = final_of({dc: {"dc1": 1} for dc in DCS})
    final["hubs"]["dc2"]["converged"] = False
    result = check_convergence([], events, OPTIONS, final)
    assert result["valid"] is False and result["final_not_converged"] == ["dc2"]
    flagged = final_of({dc: {"dc1": 1} for dc in DCS}, converged=False)
    assert check_convergence([], events, OPTIONS, flagged)["valid"] is False


def test_without_final_state_or_with_an_unreachable_hub_it_is_unknown() -> None:
    events = spread("dc1", 1, 0, {"dc2": 200, "dc3": 400})
    missing = check_convergence([], events, OPTIONS)
    assert missing["valid"] == "unknown" and missing["reason"] == "no final.json"
    final = final_of({"dc1": {"dc1": 1}, "dc2": {"dc1": 1}, "dc3": None}, converged=False)
    result = check_convergence([], events, OPTIONS, final)
    assert result["valid"] == "unknown" and result["final_unreachable"] == ["dc3"]
    assert "dc3" in result["reason"]
    final["hubs"]["dc2"]["vv"] = {"dc1": 0}
    assert check_convergence([], events, OPTIONS, final)["valid"] is False
