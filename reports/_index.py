"""The store's index page: every run newest first, colour-coded by verdict, with a summary of the
invalid and unknown runs on top and a filter by verdict and name.

`write_index(store)` writes `<store>/index.html`: self-contained (inline CSS and a small inline
script, nothing loaded from anywhere), links relative to the store, so the page works from an
unpacked CI artifact. `imfault serve` serves the same page (`index_page(..., serving=True)`, links
under `runs/`). Only `test.json` and `results.json` of each run are read (see `_runlist`).
"""

from __future__ import annotations

import datetime as dt
import os
import time
import urllib.parse
from pathlib import Path

from ._runlist import RunRow, scan_store
from ._svg import esc
from ._verdict import VERDICT_COLOURS
from ._verdict import format_number as num

INDEX_NAME = "index.html"
VERDICTS = ("invalid", "unknown", "valid")
"""Order of the summary: what needs attention first."""
ATTENTION_SHOWN = 10
"""Invalid (and unknown) runs listed openly in the summary; the rest fold under a <details>."""

_CSS = """
body{font-family:system-ui,sans-serif;margin:20px;color:#222}
h1{margin:0 0 4px}.meta{color:#666;margin:0 0 14px}
.badge{display:inline-block;padding:3px 10px;border-radius:4px;color:#fff;font-weight:600;
margin-right:6px}
td.v{color:#fff;font-weight:600;text-transform:uppercase;font-size:.85em}
#attention{margin:10px 0 18px;padding:0;list-style:none}
#attention li{margin:3px 0}.more{list-style:none;padding-left:12px}
a.badge{text-decoration:none}#attention .badge{font-size:.8em;min-width:64px;text-align:center}
table{border-collapse:collapse;font-size:.85em;width:100%}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f3f3f3;position:sticky;top:0}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.t,td.r{white-space:nowrap}
td.f{min-width:12em}
tr.run:nth-child(even){background:#fafafa}.problem{color:#b00020}
.scroll{overflow-x:auto}#filter{margin:8px 0 10px}#filter label{margin-right:10px}
#shown{color:#666;margin-left:8px}
""" + "".join(f".{verdict} .v,.badge.{verdict}{{background:{colour}}}\n"
             for verdict, colour in VERDICT_COLOURS.items())

_SCRIPT = """
(function(){
var f=document.getElementById('filter'),rows=[].slice.call(document.querySelectorAll('tr.run')),
q=document.getElementById('q'),shown=document.getElementById('shown'),
boxes=[].slice.call(f.querySelectorAll('input[type=checkbox]'));
function apply(){var want={},n=0,text=q.value.toLowerCase();
boxes.forEach(function(b){want[b.value]=b.checked;});
rows.forEach(function(r){var ok=want[r.getAttribute('data-verdict')]&&
r.getAttribute('data-name').indexOf(text)>=0;r.hidden=!ok;if(ok)n++;});
shown.textContent=n+' of '+rows.length+' shown';}
function fromHash(){var h=new URLSearchParams(location.hash.slice(1));
if(h.has('verdict')){var v=h.get('verdict').split(',');
boxes.forEach(function(b){b.checked=v.indexOf(b.value)>=0;});}
if(h.has('name'))q.value=h.get('name');apply();}
f.addEventListener('input',apply);addEventListener('hashchange',fromHash);f.hidden=false;
fromHash();
})();
"""


def _when(ns: int) -> str:
    return f"{dt.datetime.fromtimestamp(ns / 1e9, dt.UTC):%Y-%m-%d %H:%M:%S}"


def _href(row: RunRow, serving: bool) -> tuple[str, str]:
    """(link, its note): the report, or (static page, no report yet) the run directory."""
    quoted = urllib.parse.quote(row.relative)
    if serving:
        return f"runs/{quoted}/report.html", ""
    if row.has_report:
        return f"{quoted}/report.html", ""
    return f"{quoted}/", " (no report)"


def _row(row: RunRow, serving: bool) -> str:
    href, note = _href(row, serving)
    duration = "—" if row.duration_s is None else f"{row.duration_s:.1f} s"
    detail = esc(row.findings) if row.checked or not row.problem else ""
    if row.problem:
        problem = f'<span class="problem">{esc(row.problem)}</span>'
        detail = f"{detail}; {problem}" if detail else problem
    title = ' title="no report.html yet: links to the run directory"' if note else ""
    search = esc(f"{row.name} {row.relative}".lower())
    return (
        f'<tr class="run {row.verdict}" data-verdict="{row.verdict}" data-name="{search}">'
        f'<td class="v">{row.verdict}</td>'
        f'<td class="r"><a href="{esc(href)}"{title}>{esc(row.relative)}</a></td>'
        f'<td class="t">{_when(row.started_ns)}</td><td class="n">{duration}</td>'
        f'<td>{esc(row.backend or "—")}</td><td>{esc(row.system)}</td>'
        f"<td>{esc(', '.join(row.nemeses) or 'none')}</td><td>{esc(', '.join(row.bugs))}</td>"
        f'<td class="n">{esc(num(row.seed))}</td><td class="n">{num(row.lost)}</td>'
        f'<td class="n">{num(row.duplicated)}</td><td class="n t">{row.convergence_text}</td>'
        f'<td class="f">{detail}</td></tr>'
    )


def _summary(rows: list[RunRow], serving: bool) -> str:
    counts = {verdict: sum(1 for row in rows if row.verdict == verdict) for verdict in VERDICTS}
    badges = "".join(f'<a class="badge {verdict}" id="count-{verdict}" '
                     f'href="#verdict={verdict}">{counts[verdict]} {verdict}</a>'
                     for verdict in VERDICTS)
    attention = []
    for verdict in ("invalid", "unknown"):
        items = []
        for row in (row for row in rows if row.verdict == verdict):
            href, note = _href(row, serving)
            why = row.problem or row.findings
            items.append(f'<li class="{verdict}"><span class="badge {verdict}">{verdict}'
                         f'</span><a href="{esc(href)}">{esc(row.relative)}</a>{note}'
                         f"{' — ' + esc(why) if why else ''}</li>")
        attention += items[:ATTENTION_SHOWN]
        if len(items) > ATTENTION_SHOWN:
            attention.append(f"<li><details><summary>{len(items) - ATTENTION_SHOWN} more "
                             f'{verdict} runs</summary><ul class="more">'
                             f'{"".join(items[ATTENTION_SHOWN:])}</ul></details></li>')
    listed = (f'<h2>Needs attention</h2><ul id="attention">{"".join(attention)}</ul>'
              if attention else "<p>Every run is valid.</p>" if rows else "")
    return f'<section id="summary"><p>{badges}</p>{listed}</section>'


def index_page(store: Path, rows: list[RunRow] | None = None, *, serving: bool = False) -> str:
    """The index page of `store` (rows default to a fresh scan)."""
    rows = scan_store(store) if rows is None else rows
    body = "".join(_row(row, serving) for row in rows) or \
        '<tr><td colspan="13">No runs in this store yet.</td></tr>'
    boxes = "".join(f'<label><input type="checkbox" value="{verdict}" checked> {verdict}</label>'
                    for verdict in VERDICTS)
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>imfault runs: {esc(Path(store).name or str(store))}</title>"
        f"<style>{_CSS}</style></head><body>"
        f"<h1>imfault runs</h1><p class=\"meta\">store {esc(str(store))} · {len(rows)} runs · "
        f"written {generated}</p>{_summary(rows, serving)}"
        f'<form id="filter" hidden onsubmit="return false">Show {boxes}'
        '<label>name <input id="q" type="search" placeholder="filter by name"></label>'
        '<span id="shown"></span></form>'
        '<div class="scroll"><table id="runs"><thead><tr><th>verdict</th><th>run</th>'
        "<th>started (UTC)</th>"
        "<th>duration</th><th>backend</th><th>system</th><th>nemeses</th><th>bugs</th>"
        "<th>seed</th><th>lost</th><th>dupli&shy;cated</th><th>convergence p50 / p99 ms</th>"
        "<th>findings</th></tr></thead>"
        f"<tbody>{body}</tbody></table></div><script>{_SCRIPT}</script></body></html>\n"
    )


def write_index(store: Path, rows: list[RunRow] | None = None) -> Path:
    """Write `<store>/index.html` atomically and return its path."""
    store = Path(store)
    path = store / INDEX_NAME
    tmp = store / f".{INDEX_NAME}.{os.getpid()}.tmp"
    tmp.write_text(index_page(store, rows), encoding="utf-8")
    os.replace(tmp, path)
    return path


__all__ = ["INDEX_NAME", "index_page", "write_index"]
