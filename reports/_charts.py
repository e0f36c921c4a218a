"""Turns the run's digests into the report's four charts (each an inline SVG plus a caption)."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from ._digest import EventsDigest, HistoryDigest, received_sends
from ._svg import bar_chart, esc, histogram_chart, latency_chart, timeline_chart

NS = 1_000_000_000
MAX_POINTS = 5000


def _phases(test: dict[str, Any] | None) -> list[tuple[str, float, float]]:
    phases = (test or {}).get("phases")
    out = []
    if isinstance(phases, dict):
        for name, span in phases.items():
            if isinstance(span, (list, tuple)) and len(span) == 2:
                try:
                    out.append((str(name), float(span[0]) / NS, float(span[1]) / NS))
                except (TypeError, ValueError):
                    continue
    return sorted(out, key=lambda item: item[1])


def _t_max(history: HistoryDigest, test: dict[str, Any] | None) -> float:
    ends = [history.end_time / NS] + [end for _n, _s, end in _phases(test)]
    return max(ends + [1.0])


def latency_section(history: HistoryDigest, test: dict[str, Any] | None) -> str:
    received, total = received_sends(history.sends, MAX_POINTS)
    if not received:
        return '<p class="note">No message was received by its recipient: no latency to draw.</p>'
    note = ""
    if total > MAX_POINTS:
        note = f" Showing every {math.ceil(total / MAX_POINTS)}th of {total} receipts."
    points = [(facts.invoke_time / NS, ((facts.first_receipt_time or 0) - facts.invoke_time) / 1e6,
               facts.first_receipt_via or "") for facts in received]
    bands = [(iv.start / NS, iv.end / NS, iv.kind) for iv in history.intervals]
    phase_starts = [(name, start) for name, start, _end in _phases(test) if name != "main"]
    svg = latency_chart(points, bands, _t_max(history, test), phase_starts)
    return (
        f'<figure>{svg}<figcaption>Send invocation to first receipt by the recipient; shaded: '
        "nemesis periods (colour by fault kind); dashed: start of the heal and recovery phases."
        f"{esc(note)}</figcaption></figure>"
    )


def theory_rounds(n_dcs: int) -> float:
    """The article's push-gossip estimate log2(N) + ln(N) rounds."""
    return math.log2(n_dcs) + math.log(n_dcs) if n_dcs > 1 else 0.0


def convergence_section(events: EventsDigest | None, test: dict[str, Any] | None) -> str:
    if events is None:
        return '<p class="note">No <code>events.jsonl</code>: convergence cannot be drawn.</p>'
    if not events.converged_ms:
        return (
            f'<p class="note">{events.dots} dots in the event log, none seen in every DC '
            f"({events.unconverged} unconverged).</p>"
        )
    test = test or {}
    interval = float(test.get("gossip_interval") or 100)
    dcs = test.get("dc_names") or []
    n = len(dcs) if dcs else int(test.get("dcs") or 0)
    rounds = [ms / interval for ms in events.converged_ms]
    markers = []
    if n > 1:
        theory = theory_rounds(n)
        markers.append((theory, f"theory log2 N + ln N = {theory:.2f} rounds (N={n})", "#c62828"))
    wan = test.get("wan_latency")
    if isinstance(wan, (int, float)) and wan > 0:
        markers.append((wan / interval, f"one-way WAN floor {wan:g} ms", "#2e7d32"))
    ordered = sorted(rounds)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
    svg = histogram_chart(rounds, 0.5, markers, f"rounds to converge (ms / {interval:g} ms)")
    return (
        f"<figure>{svg}<figcaption>{len(rounds)} dots converged, {events.unconverged} not; "
        f"median {p50:.2f} rounds, p99 {p99:.2f} rounds (originate → last DC's apply)."
        "</figcaption></figure>"
    )


def per_dc_section(
    history: HistoryDigest, test: dict[str, Any] | None, lost_ids: list[str],
    delivery: dict[str, Any] | None = None,
) -> str:
    """Bars per sending DC: the delivery checker's `per_dc` when it ran (one source of truth and
    no pass over every send), else counted from the history digest (a partial run)."""
    if not history.sends:
        return '<p class="note">No sends in the history.</p>'
    per_dc = (delivery or {}).get("per_dc")
    counts: dict[str, dict[str, float]]
    if isinstance(per_dc, dict) and all(isinstance(row, dict) for row in per_dc.values()):
        counts = {str(dc): {k: float(v) for k, v in row.items() if isinstance(v, (int, float))}
                  for dc, row in per_dc.items()}
    else:
        counts = _count_per_dc(history, lost_ids)
    order = list((test or {}).get("dc_names") or [])
    order += sorted(dc for dc in counts if dc not in order)
    groups = [(dc, dict(counts.get(dc, {}))) for dc in order]
    series = [
        ("attempted", "#90a4ae"),
        ("acknowledged", "#42a5f5"),
        ("delivered", "#66bb6a"),
        ("lost", "#e53935"),
    ]
    return (
        f"<figure>{bar_chart(groups, series)}<figcaption>Sends by the sender's DC: attempted, "
        "acknowledged (send ok), delivered (received by the recipient), lost (per the delivery "
        "checker).</figcaption></figure>"
    )


def _count_per_dc(history: HistoryDigest, lost_ids: list[str]) -> dict[str, dict[str, float]]:
    counts: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for facts in history.sends.values():
        row = counts[facts.dc]
        row["attempted"] += 1
        if facts.outcome == "ok":
            row["acknowledged"] += 1
        if facts.first_receipt_time is not None:
            row["delivered"] += 1
    for msg_id in lost_ids:
        lost = history.sends.get(msg_id)
        if lost is not None:
            counts[lost.dc]["lost"] += 1
    return counts


def _heal_bars(
    results: dict[str, Any] | None, end_s: float
) -> list[tuple[float, float, str, bool]]:
    """From the convergence checker's `heals`: heal time -> everything converged (or never)."""
    convergence = (results or {}).get("convergence")
    heals = convergence.get("heals") if isinstance(convergence, dict) else None
    bars = []
    for heal in heals if isinstance(heals, list) else []:
        if not isinstance(heal, dict) or not isinstance(heal.get("time_ms"), (int, float)):
            continue
        start = heal["time_ms"] / 1000
        after = heal.get("converged_after_ms")
        if isinstance(after, (int, float)):
            bars.append((start, start + after / 1000, f"+{after:.0f} ms", True))
        else:
            bars.append((start, max(start, end_s), "never converged", False))
    return bars


def timeline_section(
    history: HistoryDigest, test: dict[str, Any] | None, results: dict[str, Any] | None = None
) -> str:
    lanes: dict[str, list[tuple[float, float, str, bool]]] = defaultdict(list)
    for iv in history.intervals:
        lanes[iv.kind].append((iv.start / NS, iv.end / NS, iv.label, iv.closed))
    heal_bars = _heal_bars(results, _t_max(history, test))
    if heal_bars:
        lanes["reconverged"] = heal_bars
    if not lanes and not _phases(test):
        return '<p class="note">No nemesis ops and no phases recorded.</p>'
    ordered = sorted(lanes.items(), key=lambda item: (item[0] == "reconverged", item[0]))
    svg = timeline_chart(ordered, _phases(test), _t_max(history, test))
    return (
        f"<figure>{svg}<figcaption>Top strip: runner phases. One lane per fault kind; dashed "
        "outline: a fault never healed in the history. Lane \u201creconverged\u201d: from each "
        "heal until every update made before it had reached every DC (convergence checker)."
        "</figcaption></figure>"
    )
