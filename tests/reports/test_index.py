"""The store's static index.html (`imfault index`), its Markdown twin, and the refresh at the end of
`imfault check`: every run newest first with its verdict and numbers, malformed runs listed with
their problem, relative links, nothing loaded from the network."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from reports_store import ORDER, add_run, make_store
from reports_synthetic_run import make_run

import reports
from harness.cli import main

REPO = Path(__file__).resolve().parents[2]
ROW_RE = re.compile(r'<tr class="run (\w+)" data-verdict="\w+" data-name="[^"]*">'
                    r'<td class="v">\w+</td><td class="r"><a href="([^"]+)"([^>]*)>([^<]+)</a>'
                    r'(.*?)</tr>')


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return make_store(tmp_path)


def rows_of(page: str) -> dict[str, tuple[str, str, str]]:
    """run -> (verdict, link, the link's other attributes + the rest of the row), in order."""
    return {run: (verdict, link, attrs + rest)
            for verdict, link, attrs, run, rest in ROW_RE.findall(page)}


def test_index_lists_every_run_newest_first_with_numbers_and_problems(store: Path) -> None:
    page = reports.write_index(store).read_text()
    rows = rows_of(page)
    assert list(rows) == ORDER  # newest first; `latest` links and the `notes` folder skipped
    assert {run: verdict for run, (verdict, _l, _r) in rows.items()} == {
        ORDER[0]: "unknown", ORDER[1]: "unknown", ORDER[2]: "valid", ORDER[3]: "unknown",
        ORDER[4]: "valid", ORDER[5]: "invalid"}
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", rows[run][2].partition("</td>")[2])
             for run in ORDER]
    clean, synthetic = cells[4], cells[5]
    # started, duration, backend, system, nemeses, bugs, seed, lost, dup, p50 / p99, findings
    assert clean == ["2026-01-02 00:00:00", "12.5 s", "sim", "nats", "kill", "", "42", "0", "2",
                     "210.5 / 480", "duplicated 2"]
    assert synthetic[:7] == ["2026-01-01 00:00:00", "19.0 s", "local", "imcluster",
                             "partition-one, kill", "gateway-drop", "7"]
    assert synthetic[7:9] == ["1", "1"] and "lost 1" in synthetic[10]
    assert "not valid JSON" in rows[ORDER[2]][2]
    assert "results.json is not a JSON object" in rows[ORDER[1]][2]
    assert "no test.json, history.jsonl or results.json" in rows[ORDER[0]][2]
    assert "not checked (no results.json)" in rows[ORDER[3]][2]
    # links are relative to the store: the report when there is one, else the run directory
    assert rows[ORDER[5]][1] == "synthetic/20260101T000000/report.html"
    assert rows[ORDER[4]][1] == "clean/20260102T000000/"
    assert "no report.html yet" in rows[ORDER[4]][2]
    for _verdict, link, _rest in rows.values():
        assert (store / link).exists()


def test_summary_counts_and_lists_invalid_then_unknown_runs(store: Path) -> None:
    page = reports.index_page(store)
    summary = page[page.index('<section id="summary">'):page.index("</section>")]
    assert '<a class="badge invalid" id="count-invalid" href="#verdict=invalid">1 invalid</a>' \
        in summary
    assert 'id="count-unknown" href="#verdict=unknown">3 unknown<' in summary
    assert 'id="count-valid" href="#verdict=valid">2 valid<' in summary
    listed = re.findall(r'<li class="(\w+)">.*?<a href="[^"]+">([^<]+)</a>', summary)
    assert listed == [("invalid", ORDER[5]), ("unknown", ORDER[0]), ("unknown", ORDER[1]),
                      ("unknown", ORDER[3])]


def test_page_is_self_contained_and_escapes_run_fields(tmp_path: Path) -> None:
    store = tmp_path / "store"
    add_run(store, "x", "20260101T000000", {"name": '"><script>alert(1)</script>',
                                            "nemesis": ["<b>kill</b>"], "seed": "<i>"},
            {"valid": False, "delivery": {"valid": False, "lost": ["<svg onload=x>"]}})
    page = reports.index_page(store)
    assert "<script>alert" not in page and "<b>kill" not in page and "<svg" not in page
    assert "&lt;b&gt;kill&lt;/b&gt;" in page
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "<script src" not in page and "@import" not in page
    assert page.count("<script>") == 1  # the filter, inline


def test_serve_uses_the_same_page_with_links_under_runs(store: Path) -> None:
    served = reports.index_html(store)
    assert list(rows_of(served)) == ORDER
    assert rows_of(served)[ORDER[4]][1] == "runs/clean/20260102T000000/report.html"


def test_markdown_summary_table(store: Path) -> None:
    rows = reports.scan_store(store)
    text = reports.markdown_summary(rows, "runs", base=store.parent)
    lines = text.splitlines()
    assert lines[0] == "### runs"
    assert lines[2] == "6 runs: 1 invalid, 3 unknown, 2 valid"
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| verdict | run | lost | duplicated |")
    body = {line.split(" | ")[1].split(" — ")[0]: line for line in table[1:]}
    assert list(body) == ORDER
    assert "| broken/20260106T000000 — no test.json, history.jsonl or results.json |" in text
    assert body[ORDER[4]] == ("| ✅ valid | clean/20260102T000000 | 0 | 2 | 210.5 / 480 | 42 | "
                              "`(no report) store/clean/20260102T000000` |")
    assert body[ORDER[5]].startswith("| ❌ invalid | synthetic/20260101T000000 | 1 | 1 |")
    assert body[ORDER[5]].endswith("| 7 | `store/synthetic/20260101T000000/report.html` |")
    assert "not checked" in body[ORDER[3]]


def test_imfault_index_command_writes_page_and_markdown(store: Path, tmp_path: Path) -> None:
    md = tmp_path / "summary.md"
    done = subprocess.run([sys.executable, "-m", "harness", "index", "--store", str(store),
                           "--markdown", str(md)], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert f"index: {store / 'index.html'} (6 runs: 1 invalid, 3 unknown, 2 valid)" in done.stdout
    assert list(rows_of((store / "index.html").read_text())) == ORDER
    assert md.read_text().count("\n| ") == 7  # header + 6 runs
    assert main(["index", "--store", str(tmp_path / "missing")]) == 2


def test_check_refreshes_the_index_of_its_store(store: Path, tmp_path: Path) -> None:
    run = store / "synthetic" / "20260101T000000"
    (run / "results.json").unlink()
    assert not (store / "index.html").exists()
    main(["check", str(run)])
    rows = rows_of((store / "index.html").read_text())
    assert rows[ORDER[5]][0] == "invalid"  # checked again: results.json is back
    alone = make_run(tmp_path / "elsewhere")  # <root>/store/synthetic/<stamp>, no `latest` link
    main(["check", str(alone)])
    assert not (alone.parent.parent / "index.html").exists()


def test_no_index_variable_stops_the_refresh(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMFAULT_NO_INDEX", "1")
    main(["check", str(store / "synthetic" / "20260101T000000")])
    assert not (store / "index.html").exists()


def test_a_long_attention_list_folds_after_the_first_ten(tmp_path: Path) -> None:
    store = tmp_path / "store"
    for n in range(13):
        add_run(store, "bad", f"2026010{1 + n // 10}T0000{n % 10}0",
                {"seed": n}, {"valid": False, "delivery": {"valid": False, "lost_count": n}})
    summary = reports.index_page(store).split("</section>")[0]
    shown, _, folded = summary.partition("<details>")
    assert shown.count('<li class="invalid">') == 10
    assert "<summary>3 more invalid runs</summary>" in folded
    assert folded.count('<li class="invalid">') == 3
