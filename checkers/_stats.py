"""The stats checker (after Jepsen's): op counts per `f` and completion type.

Client ops are counted per `f` (`invoke`, `ok`, `fail`, `info`); nemesis ops separately. As in
Jepsen, valid is false when some client `f` was attempted but never once succeeded: a run where,
say, every send failed would otherwise pass the delivery check vacuously, so this is a verdict,
not just information. `recv` is a completion-only op and always `ok`.
"""

from __future__ import annotations

from typing import Any

from ._index import HistoryIndex, Op, index_history
from ._util import unknown


def check_stats(
    history: list[Op] | HistoryIndex | None,
    events: list[Op] | None = None,
    options: dict[str, Any] | None = None,
    final: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Counts per f and type; invalid if an attempted client f never completed ok."""
    if history is None:
        return unknown("no history")
    index = index_history(history)
    tallies: dict[str, dict[str, int]] = {}
    for (f, kind), count in index.op_counts().items():
        tally = tallies.setdefault(str(f), {"invoke": 0, "ok": 0, "fail": 0, "info": 0})
        tally[str(kind)] = tally.get(str(kind), 0) + count
    by_f: dict[str, dict[str, Any]] = {}
    never_ok: list[str] = []
    for f, tally in sorted(tallies.items()):
        completions = tally["ok"] + tally["fail"] + tally["info"]
        by_f[f] = {**tally, "count": completions,
                   "ok_fraction": round(tally["ok"] / completions, 6) if completions else None}
        if tally["ok"] == 0:
            never_ok.append(f)
    nemesis: dict[str, dict[str, int]] = {}
    for op in index.nemesis_ops:
        per = nemesis.setdefault(str(op.get("f")), {})
        kind = str(op.get("type"))
        per[kind] = per.get(kind, 0) + 1
    totals = {"ok": 0, "fail": 0, "info": 0, "invoke": 0}
    for tally in tallies.values():
        for kind in totals:
            totals[kind] += tally[kind]
    return {
        "valid": not never_ok,
        "ops": len(index.history),
        **totals,
        "by_f": by_f,
        "never_ok": never_ok,
        "nemesis": dict(sorted(nemesis.items())),
    }
