"""The terminal summary of a run: a rich verdict table (one row per checker) and the run directory.

rich is imported only when a summary is printed, so importing `reports` stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._verdict import checker_names, key_numbers, overall_verdict, verdict_of

STYLES = {"valid": "bold green", "invalid": "bold red", "unknown": "bold yellow"}


def print_summary(
    results: dict[str, Any], console: Any = None, run_dir: Path | str | None = None
) -> None:
    """Print the verdict table of `results` (a results.json dict) and the run directory."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console if console is not None else Console()
    verdict = overall_verdict(results)
    table = Table(title="imfault verdict", show_lines=False)
    table.add_column("checker")
    table.add_column("verdict")
    table.add_column("key numbers", overflow="fold")
    for name in checker_names(results or {}):
        result = results[name]
        checker_verdict = verdict_of(result.get("valid"))
        numbers = ", ".join(f"{key}={value}" for key, value in key_numbers(name, result))
        table.add_row(escape(name), f"[{STYLES[checker_verdict]}]{checker_verdict}[/]",
                      escape(numbers))
    table.add_section()
    table.add_row("overall", f"[{STYLES[verdict]}]{verdict.upper()}[/]", "")
    console.print(table)
    if run_dir is not None:
        # paths on one line however narrow the console (a wrapped path cannot be copied)
        console.print(f"run directory: [bold]{escape(str(run_dir))}[/]", highlight=False,
                      soft_wrap=True)
        report = Path(run_dir) / "report.html"
        if report.exists():
            console.print(f"report: {report}", highlight=False, markup=False, soft_wrap=True)
