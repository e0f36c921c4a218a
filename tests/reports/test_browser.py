"""Renders a report in headless Debian Chromium: the screenshot is not blank, the verdict is in
the DOM, and the browser logs no console message (the report has no scripts, so any console line,
e.g. an uncaught error or a failed resource load, is a defect).

Skips when chromium is missing, unless IMFAULT_REQUIRE_BROWSER=1 (then it fails). CI installs it
with `apt-get update && apt-get install -y chromium`.
"""

from __future__ import annotations

from pathlib import Path

from reports_browser import console_lines, run_chromium
from reports_png import pixel_stats
from reports_synthetic_run import make_run

import reports

INVALID_RED = (0xC6, 0x28, 0x28)


def test_report_renders_in_headless_chromium(chromium: str, tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    report = reports.write_report(run_dir)
    url = report.resolve().as_uri()
    shot = tmp_path / "report.png"
    _out, shot_err = run_chromium(chromium, tmp_path / "profile1", url, "--hide-scrollbars",
                                  "--window-size=1000,1000", f"--screenshot={shot}")
    assert shot.is_file() and shot.stat().st_size > 10_000
    total, non_white, red = pixel_stats(shot, INVALID_RED)
    assert non_white > total * 0.05, "screenshot is (nearly) blank"
    assert red > 5_000, "the red INVALID verdict banner is not visible"
    dom, dom_err = run_chromium(chromium, tmp_path / "profile2", url, "--dump-dom")
    assert "Verdict: INVALID" in dom
    assert 'id="trails-lost"' in dom and "<svg" in dom
    assert console_lines(shot_err) == [] and console_lines(dom_err) == []


def test_console_errors_are_detected(chromium: str, tmp_path: Path) -> None:
    """The console scan above can fail: a page with an uncaught error is caught by it."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><p>x</p><script>throw new Error('boom')</script>")
    _dom, stderr = run_chromium(chromium, tmp_path / "profile", page.as_uri(), "--dump-dom")
    assert any("Uncaught Error: boom" in line for line in console_lines(stderr))
