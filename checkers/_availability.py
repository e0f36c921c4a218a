"""The availability checker: what fraction of send invocations completed `ok`.

Overall, per DC (the send's `dc`), and split by whether a fault was active at the invocation
(`during_faults`) or not (`quiet`). Informational: valid unless `options["min_availability"]`
(a fraction, 0..1) is set and the overall fraction falls below it.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import Any

from ._index import S_DC, S_INVOKE_TIME, S_OUTCOME, HistoryIndex, Op, index_history
from ._nemesis import ActivePeriods, fault_ops_of, nemesis_intervals
from ._util import unknown


def _tally() -> dict[str, int]:
    return {"ok": 0, "fail": 0, "info": 0, "pending": 0}


def _summary(tally: dict[str, int]) -> dict[str, Any]:
    total = sum(tally.values())
    return {"attempted": total, **tally,
            "availability": round(tally["ok"] / total, 6) if total else None}


def check_availability(
    history: list[Op] | HistoryIndex | None,
    events: list[Op] | None = None,
    options: dict[str, Any] | None = None,
    final: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fraction of sends acknowledged, overall, per DC, during faults and in quiet periods."""
    if history is None:
        return unknown("no history")
    options = options or {}
    index = index_history(history)
    periods = ActivePeriods(nemesis_intervals(index.nemesis_ops, index.last_time,
                                              fault_ops_of(options)))
    rows = index.sends.values()
    during = periods.flags(list(map(itemgetter(S_INVOKE_TIME), rows)))
    combos = Counter(zip(map(itemgetter(S_DC), rows), map(itemgetter(S_OUTCOME), rows), during))
    overall = _tally()
    per_dc: dict[str, dict[str, int]] = {}
    during_faults = _tally()
    quiet = _tally()
    for (dc, outcome, in_fault), count in combos.items():
        if outcome not in overall:
            outcome = "info"
        overall[outcome] += count
        per_dc.setdefault(str(dc), _tally())[outcome] += count
        (during_faults if in_fault else quiet)[outcome] += count
    result = _summary(overall)
    bound = options.get("min_availability")
    valid = True
    if bound is not None and result["availability"] is not None:
        valid = result["availability"] >= float(bound)
    return {
        "valid": valid,
        **result,
        "per_dc": {dc: _summary(tally) for dc, tally in sorted(per_dc.items())},
        "during_faults": _summary(during_faults),
        "quiet": _summary(quiet),
        "min_availability": bound,
    }
