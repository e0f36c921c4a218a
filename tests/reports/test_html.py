"""Unit tests of report.html: sections, escaping, trails, SVG well-formedness, partial runs."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from reports_synthetic_run import (
    DUPLICATED_ID,
    EVIL_ID,
    EVIL_NEMESIS,
    LOST_ID,
    MISDELIVERED_ID,
    hand_results,
    make_run,
)

import reports

SVG_NS = "{http://www.w3.org/2000/svg}"


def _html(run_dir: Path, results: dict | None = None) -> str:
    path = reports.write_report(run_dir, results)
    assert path == run_dir / "report.html"
    return path.read_text(encoding="utf-8")


class _Collector(HTMLParser):
    """Collects tags and the text of the whole document (checks it parses as HTML)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.text: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.ids.update(value or "" for name, value in attrs if name == "id")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def _parse(text: str) -> _Collector:
    collector = _Collector()
    collector.feed(text)
    collector.close()
    return collector


def test_verdict_first_and_sections_present(run_dir: Path) -> None:
    text = _html(run_dir)
    doc = _parse(text)
    body_text = " ".join(doc.text)
    assert "Verdict: INVALID" in body_text
    assert text.index("Verdict: INVALID") < text.index("<h2>Checkers</h2>")
    for heading in ["Checkers", "Reproduce", "Message trails", "Latency over time", "Convergence",
                    "Delivery per DC", "Nemesis timeline", "Checker findings", "Test options"]:
        assert f">{heading}</h2>" in text, heading
    assert "imfault run --dcs 3 --nemesis partition-one,kill --bug gateway-drop" in body_text
    assert ("backend local · 3 DCs · nemesis partition-one, kill · bugs gateway-drop · "
            "delivery durable · gossip push+anti-entropy · seed 7") in body_text
    assert {"verdict", "command", "trails-lost", "trails-duplicated", "trails-misdelivered",
            "trails-unexpected", "checker-delivery", "checker-availability"} <= doc.ids
    assert "script" not in doc.tags and "link" not in doc.tags and "img" not in doc.tags


def test_self_contained_no_external_references(run_dir: Path) -> None:
    text = _html(run_dir)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text


def test_everything_from_the_history_is_escaped(run_dir: Path) -> None:
    text = _html(run_dir)
    assert "<script" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&lt;/svg&gt;" in text
    assert "</title><script>" not in text
    doc = _parse(text)
    assert EVIL_ID in "".join(doc.text)  # shown to the reader as text
    assert any(EVIL_NEMESIS in chunk for chunk in doc.text)


def _trail(text: str, msg_id: str) -> str:
    start = text.index(f"<code>{msg_id}</code>")
    return text[start: text.index("</details>", start)]


def test_trail_of_a_lost_message_explains_it(run_dir: Path) -> None:
    text = _html(run_dir)
    trail = _trail(text, LOST_ID)
    assert "never received by the recipient" in trail
    assert "u1 → u3 (online in dc3 at the send), sent from dc1 at 5.000s" in trail
    assert "faults active at send: partition" in trail
    assert "message entry stored at: dc1, dc2, never at: dc3" in trail
    assert 'class="row-send"' in trail and trail.count('class="row-send"') == 2  # invoke + ok
    assert 'class="row-nemesis"' in trail and "start-partition" in trail
    assert "stop-partition" in trail
    assert 'class="row-session"' in trail and "u3" in trail  # the recipient's login
    assert 'class="row-event"' in trail and "dc2-hub" in trail  # reached dc2, never dc3
    assert 'class="row-recv"' not in trail


def test_trails_of_duplicate_and_misdelivered(run_dir: Path) -> None:
    text = _html(run_dir)
    dup = _trail(text, DUPLICATED_ID)
    assert dup.count('class="row-recv"') == 2
    assert "kill" in dup  # the hub restart between the two receipts
    mis = _trail(text, MISDELIVERED_ID)
    assert '&quot;user&quot;: &quot;u1&quot;' in mis and mis.count('class="row-recv"') == 2


def test_every_svg_is_well_formed_xml(run_dir: Path) -> None:
    text = _html(run_dir)
    svgs = re.findall(r"<svg\b.*?</svg>", text, flags=re.DOTALL)
    assert len(svgs) == 4  # latency, convergence, per-DC, timeline
    titles = []
    for svg in svgs:
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG_NS}svg"
        titles.append(root.find(f"{SVG_NS}title").text)
    assert titles == ["Delivery latency over time", "Convergence distribution",
                      "Delivery per datacenter", "Nemesis timeline"]
    latency = ET.fromstring(svgs[0])
    assert len(latency.findall(f"{SVG_NS}circle")) == 42  # one dot per delivered message
    shaded = [r for r in latency.iter(f"{SVG_NS}rect") if r.get("fill-opacity") == "0.13"]
    assert len(shaded) == 2  # the partition and the kill
    convergence = svgs[1]
    assert "theory log2 N + ln N = 2.68 rounds (N=3)" in convergence


def test_unknown_checker_and_reason_shown(run_dir: Path) -> None:
    results = hand_results()
    results["valid"] = "unknown"
    results["delivery"] = {"valid": "unknown", "reason": "no history.jsonl"}
    text = _html(run_dir, results)
    assert "Verdict: UNKNOWN" in text
    assert "reason: no history.jsonl" in text
    assert "No delivery results" not in text  # delivery exists but has no problem lists
    assert ("No lost, duplicated, misdelivered, unexpected, corrupted or failed-but-delivered "
            "messages.") in text


def test_partial_run_with_only_a_truncated_history(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path, partial=True)
    assert sorted(p.name for p in run_dir.iterdir()) == ["history.jsonl"]
    text = _html(run_dir)
    assert "Missing files (partial run): test.json, events.jsonl, final.json, results.json." in text
    assert "1 malformed history lines skipped." in text
    assert "No <code>events.jsonl</code>: convergence cannot be drawn." in text
    assert "The command is unknown" in text
    assert re.search(r"Verdict: (UNKNOWN|INVALID)", text)  # checkers may or may not be present
    for svg in re.findall(r"<svg\b.*?</svg>", text, flags=re.DOTALL):
        ET.fromstring(svg)


def test_empty_directory_still_renders(tmp_path: Path) -> None:
    text = _html(tmp_path, None)
    assert "Verdict: UNKNOWN" in text
    assert "No sends in the history." in text


def test_results_json_is_used_when_no_results_given(run_dir: Path) -> None:
    results = hand_results()
    results["valid"] = True
    for name in ("delivery", "convergence"):
        results[name] = {"valid": True}
    (run_dir / "results.json").write_text(json.dumps(results))
    assert "Verdict: VALID" in _html(run_dir)


def test_big_history_is_capped(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path)
    results = hand_results()
    many = [f"m{n:03d}" for n in range(40)]
    results["delivery"]["lost"] = many
    results["delivery"]["lost_count"] = 40
    text = _html(run_dir, results)
    lost_section = text[text.index('id="trails-lost"'): text.index('id="trails-duplicated"')]
    assert lost_section.count('<details class="trail lost"') == 25
    assert lost_section.count('<details class="trail lost" open>') == 1  # the first one open
    assert "15 more lost messages without trails" in lost_section


def test_a_large_history_gives_a_bounded_report(tmp_path: Path) -> None:
    """30,000 sends (90,000 ops) and 300 lost: trails, id lists and chart points are capped."""
    run_dir = tmp_path / "big"
    run_dir.mkdir()
    lines = []
    lost = []
    for n in range(30_000):
        value = {"id": f"b{n}", "from": "u1", "to": "u2", "dc": "dc1"}
        t = n * 1_000_000
        lines.append(json.dumps({"index": 3 * n, "time": t, "process": 0, "type": "invoke",
                                 "f": "send", "value": value}))
        lines.append(json.dumps({"index": 3 * n + 1, "time": t + 1000, "process": 0,
                                 "type": "ok", "f": "send", "value": value}))
        if n % 100 == 0:
            lost.append(f"b{n}")
        else:
            lines.append(json.dumps({"index": 3 * n + 2, "time": t + 200_000_000, "process": 1,
                                     "type": "ok", "f": "recv",
                                     "value": {**value, "user": "u2", "via": "online"}}))
    (run_dir / "history.jsonl").write_text("\n".join(lines) + "\n")
    results = {"valid": False, "delivery": {"valid": False, "lost": lost,
                                            "lost_count": len(lost)}}
    text = _html(run_dir, results)
    assert len(text) < 1_500_000
    assert text.count('<details class="trail lost"') == 25
    assert "275 more lost messages without trails" in text and "… and 75 more" in text
    latency_svg = re.findall(r"<svg\b.*?</svg>", text, flags=re.DOTALL)[0]
    assert len(ET.fromstring(latency_svg).findall(f"{SVG_NS}circle")) <= 5000
    assert "Showing every 6th of 29700 receipts." in text


def test_a_message_received_many_times_has_a_capped_trail(run_dir: Path) -> None:
    recv = {"user": "u4", "id": DUPLICATED_ID, "from": "u2", "to": "u4", "dc": "dc1",
            "via": "offline"}
    with (run_dir / "history.jsonl").open("a") as handle:
        for n in range(500):
            handle.write(json.dumps({"index": 10_000 + n, "time": 20 * 10**9 + n, "process": 3,
                                     "type": "ok", "f": "recv", "value": recv}) + "\n")
    text = _html(run_dir)
    trail = _trail(text, DUPLICATED_ID)
    assert trail.count('class="row-recv"') == 58  # 60 ops kept: the send's invoke and ok + 58
    assert "444 more rows left out" in trail  # 502 receipts - 58 shown
    assert "kill" in trail  # the context survives the flood of receipts


def test_timeline_shows_reconvergence_after_each_heal(run_dir: Path) -> None:
    results = hand_results()
    results["convergence"]["heals"] = [
        {"f": "stop-partition", "time_ms": 9002.0, "dots": 40, "converged_after_ms": 1234.0},
        {"f": "start", "time_ms": 13080.0, "dots": 55, "converged_after_ms": None},
    ]
    text = _html(run_dir, results)
    timeline = ET.fromstring(re.findall(r"<svg\b.*?</svg>", text, flags=re.DOTALL)[3])
    lanes = [t.text for t in timeline.iter(f"{SVG_NS}text") if t.get("text-anchor") == "end"]
    assert lanes == ["kill", "partition", "reconverged"]
    titles = [t.text or "" for t in timeline.iter(f"{SVG_NS}title")]
    assert any(t.startswith("reconverged +1234 ms 9.00s to 10.24s") for t in titles), titles
    assert any("never converged" in t and "(still open at the end)" in t for t in titles)
