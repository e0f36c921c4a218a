"""Assembles the self-contained `report.html` of a run: verdict first, then the details.

No external assets, no scripts: inline CSS, inline SVG, `<details>` for collapsible trails. Every
string from the run directory is escaped.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from checkers import FaultOps, fault_ops_of

from ._charts import (
    convergence_section,
    latency_section,
    per_dc_section,
    theory_rounds,
    timeline_section,
)
from ._digest import EventsDigest, HistoryDigest, digest_events, digest_history
from ._runfiles import RunFiles
from ._svg import esc
from ._trails import TrailBuilder, trail_html
from ._verdict import (
    PROBLEM_KINDS,
    VERDICT_COLOURS,
    checker_names,
    flatten,
    format_number,
    key_numbers,
    overall_verdict,
    problem_count,
    problem_ids,
    verdict_of,
)

NS = 1_000_000_000
MAX_TRAILS_PER_KIND = 25
MAX_IDS_LISTED = 200
MAX_NEMESIS_ROWS = 200
MAX_FINDING_ROWS = 80
MAX_LIST_ITEMS = 50

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1c2733;
background:#f6f8fa}
main{max-width:960px;margin:0 auto;padding:16px 20px 48px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #cfd8dc}
h3{font-size:15px;margin:18px 0 6px}
.verdict{color:#fff;font-size:28px;font-weight:700;padding:14px 18px;border-radius:8px}
.valid{background:#2e7d32}.invalid{background:#c62828}.unknown{background:#ef8f00}
.badge{color:#fff;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.card{background:#fff;border:1px solid #dde3e8;border-radius:6px;padding:8px 12px;min-width:120px}
.card b{display:block;font-size:20px}.card span{font-size:12px;color:#546e7a}
table{border-collapse:collapse;background:#fff;font-size:13px;width:100%}
td,th{border:1px solid #dde3e8;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#eef2f5}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
pre{background:#263238;color:#eceff1;padding:10px;border-radius:6px;white-space:pre-wrap;
word-break:break-all}
td code{word-break:break-all}
.note{color:#546e7a;font-size:13px}.scenario{margin:0 0 10px;color:#37474f}
figure{margin:8px 0;background:#fff;border:1px solid #dde3e8;border-radius:6px;padding:6px}
figcaption{font-size:12px;color:#546e7a}svg{max-width:100%;height:auto}
details.trail{background:#fff;border:1px solid #dde3e8;border-radius:6px;margin:6px 0;
padding:4px 8px}
details.trail summary{cursor:pointer;font-size:13px}
.tag{background:#c62828;color:#fff;border-radius:4px;padding:0 5px;font-size:11px}
tr.row-send td{background:#e3f2fd}tr.row-recv td{background:#e8f5e9}
tr.row-nemesis td{background:#fce4ec}tr.row-event td{background:#f3e5f5}
tr.row-session td{background:#fffde7}
table.ops td:nth-child(-n+5){white-space:nowrap}
table.kv{width:auto;min-width:50%}
"""


def _badge(verdict: str) -> str:
    return (
        f'<span class="badge" style="background:{VERDICT_COLOURS[verdict]}">{esc(verdict)}</span>'
    )


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _cards(
    files: RunFiles, results: dict[str, Any] | None, history: HistoryDigest,
    events: EventsDigest | None,
) -> str:
    test = files.test or {}
    delivery = (results or {}).get("delivery")
    attempted, acknowledged, received, latency = _send_numbers(history, delivery)
    cards: list[tuple[str, str]] = [
        ("ops in history", str(history.op_count)),
        ("duration (s)", f"{history.end_time / NS:.1f}"),
        ("DCs", str(len(test.get("dc_names") or []) or test.get("dcs") or "?")),
        ("sends attempted", str(attempted)),
        ("acknowledged", str(acknowledged)),
        ("received by recipient", str(received)),
    ]
    for kind in PROBLEM_KINDS:
        if isinstance(delivery, dict):
            cards.append((kind, str(problem_count(delivery, kind))))
    if latency is not None:
        cards.append(("latency p50 / p99 (ms)", f"{latency[0]:.0f} / {latency[1]:.0f}"))
    if events is not None and events.converged_ms:
        interval = float(test.get("gossip_interval") or 100)
        ordered = sorted(events.converged_ms)
        n = len(test.get("dc_names") or []) or int(test.get("dcs") or 0)
        theory = f" (theory {theory_rounds(n):.2f})" if n > 1 else ""
        spread = (f"{_quantile(ordered, 0.5) / interval:.2f} / "
                  f"{_quantile(ordered, 0.99) / interval:.2f}")
        cards.append((f"convergence p50 / p99 rounds{theory}", spread))
    cards.append(("faults injected", str(len(history.intervals))))
    return '<div class="cards">' + "".join(
        f"<div class=\"card\"><b>{esc(value)}</b><span>{esc(label)}</span></div>"
        for label, value in cards
    ) + "</div>"

def _send_numbers(
    history: HistoryDigest, delivery: Any
) -> tuple[int, int, int, tuple[float, float] | None]:
    """(attempted, acknowledged, received by recipient, latency p50/p99 ms or None): the delivery
    checker's own numbers when it ran (one source of truth, and no second pass over every send of
    a big history), else counted from the history digest (a partial run without results)."""
    if isinstance(delivery, dict) and all(
            isinstance(delivery.get(k), int) for k in ("attempted", "acknowledged", "delivered")):
        overall = (delivery.get("latency") or {}).get("overall") or {}
        p50, p99 = overall.get("p50"), overall.get("p99")
        latency = (float(p50), float(p99)) if isinstance(p50, (int, float)) and isinstance(
            p99, (int, float)) else None
        return delivery["attempted"], delivery["acknowledged"], delivery["delivered"], latency
    sends = history.sends.values()
    latencies = sorted((s.first_receipt_time - s.invoke_time) / 1e6
                       for s in sends if s.first_receipt_time is not None)
    quantiles = (_quantile(latencies, 0.5), _quantile(latencies, 0.99)) if latencies else None
    return (len(history.sends), sum(1 for s in sends if s.outcome == "ok"), len(latencies),
            quantiles)


def _verdict_table(results: dict[str, Any] | None) -> str:
    if not results:
        return '<p class="note">No results: the checkers have not run on this directory.</p>'
    rows = []
    for name in checker_names(results):
        result = results[name]
        numbers = ", ".join(f"{k}={v}" for k, v in key_numbers(name, result))
        rows.append(
            f"<tr><td>{esc(name)}</td><td>{_badge(verdict_of(result.get('valid')))}</td>"
            f"<td>{esc(numbers)}</td></tr>"
        )
    return (
        '<table class="verdicts"><thead><tr><th>checker</th><th>verdict</th><th>key numbers</th>'
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _lists_of(result: Any, prefix: str = "") -> list[tuple[str, list[Any]]]:
    found: list[tuple[str, list[Any]]] = []
    if isinstance(result, dict):
        for key, value in result.items():
            if isinstance(value, list) and value:
                found.append((prefix + str(key), value))
            elif isinstance(value, dict) and not prefix:
                found += _lists_of(value, f"{key}.")
    return found


def _findings(results: dict[str, Any] | None) -> str:
    if not results:
        return ""
    parts = []
    for name in checker_names(results):
        result = results[name]
        verdict = verdict_of(result.get("valid"))
        parts.append(f'<h3 id="checker-{esc(name)}">{esc(name)} {_badge(verdict)}</h3>')
        if result.get("reason"):
            parts.append(f'<p class="note">reason: {esc(result["reason"])}</p>')
        flat = flatten(result)
        rows = [
            f"<tr><td>{esc(path)}</td><td>{esc(format_number(value))}</td></tr>"
            for path, value in flat[:MAX_FINDING_ROWS]
        ]
        if rows:
            parts.append('<table class="kv"><tbody>' + "".join(rows) + "</tbody></table>")
        if len(flat) > MAX_FINDING_ROWS:
            left_out = len(flat) - MAX_FINDING_ROWS
            parts.append(f'<p class="note">{left_out} more fields left out.</p>')
        for path, items in _lists_of(result):
            shown = ", ".join(
                json.dumps(item, sort_keys=True, default=str, ensure_ascii=False)
                for item in items[:MAX_LIST_ITEMS]
            )
            extra = len(items) - MAX_LIST_ITEMS
            more = f" … and {extra} more" if extra > 0 else ""
            parts.append(f"<p><b>{esc(path)}</b> ({len(items)}): <code>{esc(shown)}</code>"
                         f"{esc(more)}</p>")
    return "".join(parts)


def _trails(results: dict[str, Any] | None, builder: TrailBuilder) -> str:
    delivery = (results or {}).get("delivery")
    if not isinstance(delivery, dict):
        return '<p class="note">No delivery results: no message trails.</p>'
    parts = []
    for kind in PROBLEM_KINDS:
        ids = problem_ids(delivery, kind)
        if not ids:
            continue
        parts.append(f'<h3 id="trails-{kind}">{esc(kind)}: {problem_count(delivery, kind)}</h3>')
        parts += [trail_html(builder, msg_id, kind, open_=(n == 0))
                  for n, msg_id in enumerate(ids[:MAX_TRAILS_PER_KIND])]
        if len(ids) > MAX_TRAILS_PER_KIND:
            listed = ids[MAX_TRAILS_PER_KIND:MAX_TRAILS_PER_KIND + MAX_IDS_LISTED]
            rest = len(ids) - MAX_TRAILS_PER_KIND - len(listed)
            parts.append(
                f'<p class="note">{len(ids) - MAX_TRAILS_PER_KIND} more {esc(kind)} messages '
                f"without trails: <code>{esc(', '.join(listed))}</code>"
                f"{esc(f' … and {rest} more' if rest else '')}</p>"
            )
    if not parts:
        return ('<p class="note">No lost, duplicated, misdelivered, unexpected, corrupted or '
                'failed-but-delivered messages.</p>')
    return "".join(parts)


def _nemesis_table(history: HistoryDigest) -> str:
    ops = history.nemesis_ops
    if not ops:
        return ""
    rows = [
        f"<tr><td>{int(op.get('time') or 0) / NS:.3f}</td><td>{esc(op.get('type'))}</td>"
        f"<td>{esc(op.get('f'))}</td><td><code>"
        f"{esc(json.dumps(op.get('value'), sort_keys=True, default=str, ensure_ascii=False)[:400])}"
        "</code></td></tr>"
        for op in ops[:MAX_NEMESIS_ROWS]
    ]
    more = (f'<p class="note">{len(ops) - MAX_NEMESIS_ROWS} more nemesis ops left out.</p>'
            if len(ops) > MAX_NEMESIS_ROWS else "")
    return (
        "<details><summary>Nemesis ops (" + str(len(ops)) + ")</summary><table><thead><tr>"
        "<th>time (s)</th><th>type</th><th>f</th><th>value</th></tr></thead><tbody>"
        + "".join(rows) + "</tbody></table>" + more + "</details>"
    )


def _options(test: dict[str, Any] | None) -> str:
    if not test:
        return '<p class="note">No <code>test.json</code>.</p>'
    rows = "".join(
        f"<tr><td>{esc(key)}</td><td><code>"
        f"{esc(json.dumps(value, sort_keys=True, default=str, ensure_ascii=False))}"
        "</code></td></tr>"
        for key, value in sorted(test.items())
        if key != "command"
    )
    return ("<details><summary>All options</summary><table><tbody>" + rows
            + "</tbody></table></details>")


def _scenario(test: dict[str, Any] | None) -> str:
    """One line naming the scenario: backend, DCs, nemeses, bugs, delivery mode, seed."""
    if not test:
        return ""

    def listed(value: Any) -> str:
        if isinstance(value, list):
            return ", ".join(str(item) for item in value) or "none"
        return str(value) if value not in (None, "") else "none"

    parts = [
        f"backend {test.get('backend', '?')}",
        f"{len(test.get('dc_names') or []) or test.get('dcs', '?')} DCs",
        f"nemesis {listed(test.get('nemesis'))}",
        f"bugs {listed(test.get('bug'))}",
        f"delivery {test.get('delivery', '?')}",
        f"gossip {test.get('gossip', '?')}",
        f"seed {test.get('seed', '?')}",
    ]
    return f'<p class="scenario">{esc(" · ".join(parts))}</p>'


def _command(test: dict[str, Any] | None) -> str:
    command = (test or {}).get("command")
    if isinstance(command, list):
        command = " ".join(str(part) for part in command)
    if not command:
        return '<p class="note">The command is unknown (no <code>test.json</code> "command").</p>'
    return f'<pre id="command">{esc(command)}</pre>'


def history_inputs(delivery: Any, test: dict[str, Any] | None
                   ) -> tuple[set[str], FaultOps, list[str]]:
    """What the report's history digest depends on: the ids whose trails are shown (from the
    delivery result), the run's fault kinds, and notes for the page."""
    trail_ids = {i for kind in PROBLEM_KINDS
                 for i in problem_ids(delivery, kind)[:MAX_TRAILS_PER_KIND]}
    notes = []
    try:
        fault_ops = fault_ops_of(test)  # the run's own record (built-in table: older runs)
    except ValueError as exc:
        notes.append(f"Nemesis periods not drawn: {exc}.")
        fault_ops = FaultOps({})
    return trail_ids, fault_ops, notes


def render_report(files: RunFiles, results: dict[str, Any] | None) -> str:
    """The complete HTML text of a run's report."""
    delivery = (results or {}).get("delivery")
    trail_ids, fault_ops, notes = history_inputs(delivery, files.test)
    test = files.test
    history = (digest_history(files.history_path, trail_ids, fault_ops) if files.has_history
               else HistoryDigest())
    dc_names = [str(dc) for dc in (test or {}).get("dc_names") or []]
    events = digest_events(files.events_path, dc_names, trail_ids) if files.has_events else None
    builder = TrailBuilder(history, events, dc_names)
    verdict = overall_verdict(results)
    run_name = f"{(test or {}).get('name') or files.run_dir.parent.name} / {files.run_dir.name}"
    if files.missing:
        notes.append("Missing files (partial run): " + ", ".join(files.missing) + ".")
    if history.skipped_lines:
        notes.append(f"{history.skipped_lines} malformed history lines skipped.")
    if results is None:
        notes.append("No results.json and no checkers available: verdict unknown.")
    note_html = "".join(f'<p class="note">{esc(n)}</p>' for n in notes)
    lost = problem_ids(delivery, "lost")
    return "".join([
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>imfault {esc(verdict)}: {esc(run_name)}</title><style>{CSS}</style></head>",
        f"<body><main><h1>imfault report: {esc(run_name)}</h1>", _scenario(test),
        f'<div id="verdict" class="verdict {verdict}">Verdict: {verdict.upper()}</div>',
        _cards(files, results, history, events), note_html,
        "<h2>Checkers</h2>", _verdict_table(results),
        "<h2>Reproduce</h2>", _command(test),
        "<h2 id=\"trails\">Message trails</h2>", _trails(results, builder),
        "<h2>Latency over time</h2>", latency_section(history, test),
        "<h2>Convergence</h2>", convergence_section(events, test),
        "<h2>Delivery per DC</h2>", per_dc_section(history, test, lost, delivery if isinstance(delivery, dict) else None),
        "<h2>Nemesis timeline</h2>", timeline_section(history, test, results),
        _nemesis_table(history),
        "<h2>Checker findings</h2>", _findings(results) or '<p class="note">None.</p>',
        "<h2>Test options</h2>", _options(test),
        f'<p class="note">Run directory: <code>{esc(files.run_dir)}</code></p>',
        "</main></body></html>\n",
    ])


def write_html(run_dir: Path, html_text: str) -> Path:
    """Write `report.html` atomically (a reader never sees half a file)."""
    target = Path(run_dir) / "report.html"
    tmp = target.with_name(".report.html.tmp")
    tmp.write_text(html_text, encoding="utf-8")
    tmp.replace(target)
    return target
