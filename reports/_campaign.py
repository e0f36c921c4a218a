"""The page of an `imfault campaign`: one row per cell (nemesis x bug) with its figures, and under
it every run of the cell, colour-coded by verdict, linking the run's report.

`write_campaign_page(campaign_dir, document)` writes `campaign.html` beside `campaign.json` from
that document (see `harness.explore._campaign`); self-contained, links relative to the campaign
directory, like the store's index page.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import Any

from ._index import _CSS
from ._svg import esc
from ._verdict import format_number as num

CAMPAIGN_PAGE = "campaign.html"
_EXTRA_CSS = """
td.ok{color:#2e7d32;font-weight:600}td.bad{color:#c62828;font-weight:600}
.runs{display:flex;flex-wrap:wrap;gap:2px}.runs a{display:inline-block;min-width:2.2em;
padding:1px 3px;border-radius:3px;color:#fff;text-decoration:none;font-size:.8em;
text-align:center}.runs a.error{background:#555}
"""


def _run_link(run: dict[str, Any]) -> str:
    verdict = str(run.get("verdict", "unknown"))
    title = f"seed {run.get('seed')}: {verdict}"
    if run.get("findings"):
        title += f" — {run['findings']}"
    if run.get("error"):
        title += f" — {run['error']}"
    if not run.get("run"):
        return f'<a class="badge {esc(verdict)}" title="{esc(title)}">{esc(num(run.get("seed")))}</a>'
    href = urllib.parse.quote(f"{run['run']}/report.html")
    return (f'<a class="badge {esc(verdict)}" href="{esc(href)}" title="{esc(title)}">'
            f'{esc(num(run.get("seed")))}</a>')


def _cell_rows(cell: dict[str, Any], failing: set[str], expect: str | None) -> str:
    stats = cell["stats"]
    mark = ""
    if expect:
        mark = '<td class="bad">failed</td>' if cell["name"] in failing else '<td class="ok">ok</td>'
    overrides = ", ".join(f"{k}={v}" for k, v in cell.get("overrides", {}).items())
    runs = "".join(_run_link(run) for run in cell["runs"])
    return (f"<tr><td>{esc(', '.join(cell['nemesis']) or 'none')}</td>"
            f"<td>{esc(cell['bug'] or 'none (correct cluster)')}</td><td>{esc(overrides)}</td>"
            f'<td class="n">{stats["runs"]}</td><td class="n">{num(stats["invalid_pct"])} %</td>'
            f'<td class="n">{stats["unknown"] + stats["error"]}</td>'
            f'<td class="n">{stats["lost"]}</td><td class="n">{stats["duplicated"]}</td>'
            f'<td class="n t">{num(stats["convergence_p50_ms"])} / '
            f'{num(stats["convergence_p99_ms"])}</td>{mark}</tr>'
            f'<tr><td colspan="10"><div class="runs">{runs}</div></td></tr>')


def campaign_page(document: dict[str, Any]) -> str:
    """The HTML of a campaign document."""
    expect = document.get("expect")
    failing = {line.split(":", 1)[0] for line in document.get("expectation_failures", [])}
    rows = "".join(_cell_rows(cell, failing, expect) for cell in document["cells"])
    verdict = document.get("verdict", "unknown")
    head = (f'<span class="badge {esc(verdict)}">{esc(verdict)}</span>'
            f"{len(document['cells'])} cells × {len(document['seeds'])} seeds on "
            f"{esc(document['backend'])}, {esc(num(document['wall_s']))} s wall, "
            f"{esc(num(document['cpu_s']))} s CPU")
    if expect:
        head += f" · expect {esc(expect)}"
        if expect == "caught":
            head += f" (at least {100 * float(document.get('min_caught', 0.95)):g} %)"
    failures = "".join(f"<li>{esc(line)}</li>" for line in document.get("expectation_failures",
                                                                          []))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>imfault campaign</title><style>{_CSS}{_EXTRA_CSS}</style></head><body>"
        f'<h1>imfault campaign</h1><p class="meta">{head}</p>'
        f"<p class=\"meta\">options: <code>{esc(' '.join(document.get('options', [])))}</code>"
        f"</p>{f'<ul>{failures}</ul>' if failures else ''}"
        '<div class="scroll"><table><thead><tr><th>nemesis</th><th>bug</th><th>options</th>'
        "<th>runs</th><th>invalid</th><th>unknown / broken</th><th>lost</th>"
        "<th>dupli&shy;cated</th><th>convergence p50 / p99 ms</th>"
        f"{'<th>expectation</th>' if expect else ''}</tr></thead><tbody>{rows}</tbody></table>"
        "</div></body></html>\n"
    )


def write_campaign_page(campaign_dir: Path, document: dict[str, Any]) -> Path:
    """Write `<campaign_dir>/campaign.html` atomically and return its path."""
    path = Path(campaign_dir) / CAMPAIGN_PAGE
    tmp = path.with_name(f".{CAMPAIGN_PAGE}.{os.getpid()}.tmp")
    tmp.write_text(campaign_page(document), encoding="utf-8")
    os.replace(tmp, path)
    return path


__all__ = ["CAMPAIGN_PAGE", "campaign_page", "write_campaign_page"]
