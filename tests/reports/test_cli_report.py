"""`imfault report RUN_DIR`: re-renders report.html, prints the verdict table, exits by verdict."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from reports_synthetic_run import hand_results, make_run


def _imfault(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_report_rewrites_html_and_exits_invalid(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    done = _imfault("report", str(run_dir))
    assert done.returncode == 1, done.stderr
    assert "report.html" in done.stdout and "INVALID" in done.stdout
    assert "Verdict: INVALID" in (run_dir / "report.html").read_text()


def test_report_exit_codes_follow_the_verdict(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    results = hand_results()
    results["valid"] = "unknown"
    (run_dir / "results.json").write_text(json.dumps(results))
    assert _imfault("report", str(run_dir)).returncode == 3
    results["valid"] = True
    (run_dir / "results.json").write_text(json.dumps(results))
    assert _imfault("report", str(run_dir)).returncode == 0


def test_report_on_a_partial_run_and_a_missing_dir(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, partial=True)
    done = _imfault("report", str(run_dir))
    assert done.returncode in (1, 3), done.stderr  # with checkers: their verdict; without: unknown
    assert not (run_dir / "results.json").exists()  # `report` never writes results.json
    assert (run_dir / "report.html").is_file()
    missing = _imfault("report", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "not a run directory" in missing.stderr
