"""A Markdown summary of runs (for CI step summaries and pull-request comments): a count line and
one table row per run with its verdict, key numbers and report path.

Used by `imfault index --markdown FILE` (every run of the store) and the pytest plugin's
`--im-summary-md FILE` / `GITHUB_STEP_SUMMARY` (the runs of the session).
"""

from __future__ import annotations

import os
from pathlib import Path

from ._runlist import RunRow
from ._verdict import format_number as num

_MARK = {"invalid": "❌ invalid", "unknown": "⚠️ unknown", "valid": "✅ valid"}


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ") or " "


def _path(path: Path, base: Path | None) -> str:
    """`path` relative to `base` when it lies under it, else as given."""
    if base is not None:
        try:
            return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix() \
                if path.resolve().is_relative_to(base.resolve()) else str(path)
        except (OSError, ValueError):
            return str(path)
    return str(path)


def markdown_summary(rows: list[RunRow], title: str = "imfault runs",
                     base: Path | None = None) -> str:
    """The summary of `rows` (in the order given) as Markdown; paths relative to `base`."""
    counts = {verdict: sum(1 for row in rows if row.verdict == verdict) for verdict in _MARK}
    line = ", ".join(f"{counts[v]} {v}" for v in _MARK if counts[v]) or "no runs"
    out = [f"### {title}", "", f"{len(rows)} run{'s' if len(rows) != 1 else ''}: {line}", ""]
    if not rows:
        return "\n".join(out)
    out += ["| verdict | run | lost | duplicated | convergence p50/p99 ms | seed | report |",
            "|---|---|--:|--:|--:|--:|---|"]
    for row in rows:
        convergence = row.convergence_text if row.checked else "not checked"
        report = _path(row.path / "report.html", base) if row.has_report else \
            f"(no report) {_path(row.path, base)}"
        name = row.relative + (f" — {row.problem}" if row.problem else "")
        out.append(f"| {_MARK[row.verdict]} | {_cell(name)} | {num(row.lost)} | "
                   f"{num(row.duplicated)} | {convergence} | {_cell(num(row.seed))} | "
                   f"`{_cell(report)}` |")
    return "\n".join(out) + "\n"


__all__ = ["markdown_summary"]
