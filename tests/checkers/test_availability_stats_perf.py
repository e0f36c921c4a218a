"""Hand-built histories for the availability, stats and perf checkers."""

from __future__ import annotations

from histories import History
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers import check_availability, check_perf, check_stats


def history_with_faults() -> History:
    history = History()
    history.login("a", "dc1", at_ms=0)
    history.login("b", "dc2")
    history.send("m1", "a", "b", dc="dc1", at_ms=100)
    history.send("m2", "b", "a", outcome="fail", dc="dc2", at_ms=200)
    history.nemesis("start-partition", {"grudge": {"dc1": ["dc2"]}}, at_ms=1000)
    history.send("m3", "a", "b", outcome="info", dc="dc1", at_ms=1500)
    history.send("m4", "a", "b", dc="dc1", at_ms=1600)
    history.nemesis("stop-partition", None, at_ms=2000)  # completes 2001 ms
    history.send("m5", "b", "a", dc="dc2", at_ms=2500)
    history.invoke_send("m6", "b", "a", dc="dc2", at_ms=2600)
    history.recv("b", "m1", "a", at_ms=2700)
    return history


def test_availability_overall_per_dc_and_during_faults() -> None:
    result = check_availability(history_with_faults().ops)
    assert result["valid"] is True
    assert (result["attempted"], result["ok"], result["fail"], result["info"],
            result["pending"]) == (6, 3, 1, 1, 1)
    assert result["availability"] == 0.5
    assert result["per_dc"]["dc1"]["availability"] == round(2 / 3, 6)
    assert result["per_dc"]["dc2"]["attempted"] == 3
    assert result["during_faults"]["attempted"] == 2 and result["during_faults"]["ok"] == 1
    assert result["quiet"]["attempted"] == 4 and result["quiet"]["ok"] == 2


def test_availability_bound() -> None:
    ops = history_with_faults().ops
    assert check_availability(ops, None, {"min_availability": 0.9})["valid"] is False
    assert check_availability(ops, None, {"min_availability": 0.5})["valid"] is True
    assert check_availability(None)["valid"] == "unknown"


def test_stats_counts_per_f_and_type() -> None:
    result = check_stats(history_with_faults().ops)
    assert result["valid"] is True
    assert result["by_f"]["send"] == {"invoke": 6, "ok": 3, "fail": 1, "info": 1, "count": 5,
                                      "ok_fraction": 0.6}
    assert result["by_f"]["recv"]["ok"] == 1
    assert result["nemesis"] == {"start-partition": {"invoke": 1, "info": 1},
                                 "stop-partition": {"invoke": 1, "info": 1}}
    assert result["ops"] == len(history_with_faults().ops)


def test_stats_invalid_when_some_f_never_succeeds() -> None:
    history = History()
    history.login("a", "dc1")
    history.send("m1", "a", "b", outcome="fail")
    history.send("m2", "a", "b", outcome="info")
    result = check_stats(history.ops)
    assert result["valid"] is False
    assert result["never_ok"] == ["send"]
    history.op(0, "info", "recv", {"user": "a", "id": "m9", "from": "b", "to": "a", "dc": "dc1",
                                   "via": "online"})
    assert check_stats(history.ops)["by_f"]["recv"] == {"invoke": 0, "ok": 0, "fail": 0,
                                                       "info": 1, "count": 1, "ok_fraction": 0.0}
    empty = check_stats([])
    assert empty["valid"] is True and empty["ops"] == 0


def test_perf_buckets_and_nemesis_periods() -> None:
    result = check_perf(history_with_faults().ops)
    assert result["valid"] is True
    buckets = {bucket["t_s"]: bucket for bucket in result["buckets"]}
    assert sorted(buckets) == [0.0, 1.0, 2.0]
    assert buckets[0.0]["sends"] == 2 and buckets[0.0]["ok"] == 1 and buckets[0.0]["fail"] == 1
    assert buckets[1.0]["sends"] == 2 and buckets[1.0]["send_latency_ms"]["max"] == 1.0
    assert buckets[2.0]["pending"] == 1 and buckets[2.0]["recvs"] == 1
    assert buckets[2.0]["delivery_latency_ms"]["p50"] == 2600.0
    assert result["nemesis"] == [{"f": "start-partition", "start_s": 1.0, "end_s": 2.001}]
    assert check_perf(None)["valid"] == "unknown"


def test_active_period_flags_agree_with_point_queries() -> None:
    from checkers._nemesis import ActivePeriods

    periods = ActivePeriods([{"start": 10, "end": 20}, {"start": 15, "end": 30},
                             {"start": 50, "end": 60}])
    times = [0, 10, 12, 30, 31, 49, 50, 60, 61, 5, 55, 100, 25]
    assert periods.flags(times) == [periods.active(time) for time in times]
    assert periods.flags(times) == [False, True, True, True, False, False, True, True, False,
                                    False, True, False, True]
    assert ActivePeriods([]).flags([1, 2]) == [False, False]


@settings(max_examples=200, deadline=None)
@given(spans=st.lists(st.tuples(st.integers(0, 100), st.integers(0, 30)), max_size=6),
       times=st.lists(st.integers(-5, 140), max_size=30))
def test_flags_sweep_equals_bisect(spans: list[tuple[int, int]], times: list[int]) -> None:
    from checkers._nemesis import ActivePeriods

    periods = ActivePeriods([{"start": start, "end": start + length} for start, length in spans])
    assert periods.flags(times) == [periods.active(time) for time in times]
