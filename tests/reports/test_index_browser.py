"""The store's index.html in headless Debian Chromium, opened from a copy of the store in another
folder (as an unpacked CI artifact would be): every run is there with its verdict, a link leads to
a report that renders, the filter works from the URL's fragment, and the browser logs no console
message. Skips without chromium unless IMFAULT_REQUIRE_BROWSER=1 (see reports_browser)."""

from __future__ import annotations

import re
import shutil
import urllib.parse
from pathlib import Path

from reports_browser import console_lines, run_chromium
from reports_png import pixel_stats
from reports_store import ORDER, make_store

import reports

INVALID_RED = (0xC6, 0x28, 0x28)
VERDICTS = {ORDER[0]: "unknown", ORDER[1]: "unknown", ORDER[2]: "valid", ORDER[3]: "unknown",
            ORDER[4]: "valid", ORDER[5]: "invalid"}


def visible_rows(dom: str) -> dict[str, str]:
    """run -> verdict of the table rows the page shows (rows the filter hid are left out)."""
    found = re.findall(r'<tr class="run (\w+)" data-verdict="\w+" data-name="[^"]*"( hidden="")?>'
                       r'<td class="v">\w+</td><td class="r"><a href="[^"]+"[^>]*>([^<]+)</a>', dom)
    return {run: verdict for verdict, hidden, run in found if not hidden}


def test_index_from_a_copied_store_lists_runs_and_links_to_reports(chromium: str,
                                                                   tmp_path: Path) -> None:
    built = make_store(tmp_path / "ci-workspace")
    reports.write_index(built)
    artifact = tmp_path / "downloads" / "imfault-store"
    shutil.copytree(built, artifact)  # what upload/download-artifact does to the folder
    shutil.rmtree(tmp_path / "ci-workspace")  # nothing may point back at the original
    index = (artifact / "index.html").resolve().as_uri()

    dom, dom_err = run_chromium(chromium, tmp_path / "p1", index, "--dump-dom")
    assert visible_rows(dom) == VERDICTS
    assert "6 of 6 shown" in dom  # the inline filter script ran
    link = re.search(r'<a href="([^"]+)">synthetic/20260101T000000</a>', dom)
    assert link is not None
    report_url = urllib.parse.urljoin(index, link.group(1))
    report, report_err = run_chromium(chromium, tmp_path / "p2", report_url, "--dump-dom")
    assert "Verdict: INVALID" in report and "<svg" in report

    filtered, filtered_err = run_chromium(chromium, tmp_path / "p3",
                                          index + "#verdict=unknown&name=bad", "--dump-dom")
    assert visible_rows(filtered) == {ORDER[1]: "unknown"}
    assert "1 of 6 shown" in filtered

    shot = tmp_path / "index.png"
    _out, shot_err = run_chromium(chromium, tmp_path / "p4", index, "--hide-scrollbars",
                                  "--window-size=1400,900", f"--screenshot={shot}")
    total, non_white, red = pixel_stats(shot, INVALID_RED)
    assert non_white > total * 0.03, "screenshot is (nearly) blank"
    assert red > 500, "no red invalid verdict visible"
    for stderr in (dom_err, report_err, filtered_err, shot_err):
        assert console_lines(stderr) == []
