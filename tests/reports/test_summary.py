"""The rich terminal summary: one row per checker, coloured verdicts, the run directory."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from reports_synthetic_run import hand_results
from rich.console import Console

import reports


def _render(results: dict, run_dir: Path | None = None, color: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, force_terminal=color, color_system="standard"
                      if color else None)
    reports.print_summary(results, console=console, run_dir=run_dir)
    return buffer.getvalue()


def test_one_row_per_checker_with_verdict_and_key_numbers(tmp_path: Path) -> None:
    text = _render(hand_results(), run_dir=tmp_path)
    lines = text.splitlines()
    for name, verdict in [("delivery", "invalid"), ("convergence", "invalid"),
                          ("routing", "valid"), ("ordering", "valid"),
                          ("availability", "unknown"), ("stats", "valid"), ("perf", "valid")]:
        row = next(line for line in lines if f" {name} " in line)
        assert verdict in row, row
    delivery = next(line for line in lines if " delivery " in line)
    assert "lost_count=1" in delivery and "attempted=43" in delivery
    assert "reason=no option bound given" in text
    assert "INVALID" in text
    assert f"run directory: {tmp_path}" in text.replace("\n", "")


def test_verdicts_are_coloured() -> None:
    text = _render(hand_results(), color=True)
    assert "\x1b[1;31minvalid" in text  # bold red
    assert "\x1b[1;32mvalid" in text  # bold green
    assert "\x1b[1;33munknown" in text  # bold yellow


def test_markup_in_results_is_not_interpreted() -> None:
    results = {"valid": False, "evil[bold]": {"valid": False, "note[/]": 1}}
    text = _render(results)
    assert "evil[bold]" in text


def test_importing_reports_does_not_import_rich() -> None:
    code = "import sys, reports; print('rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
