"""What the pytest plugin gives CI: `imfault_*` properties in `--junitxml`, the verdict table and
reproducing commands in a failure's JUnit text, the Markdown summary (`--im-summary-md` and
`GITHUB_STEP_SUMMARY`) and the store's index.html refreshed at the session's end.

pytest runs in a subprocess (`pytester.runpytest_subprocess`), the plugin loaded from its entry
point. One test makes a real run (local backend, real toxiproxy-server, ~15 s).
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

PROPERTY_NAMES = ["imfault_verdict", "imfault_run_dir", "imfault_report", "imfault_seed",
                  "imfault_reproduce"]


@pytest.fixture(scope="module")
def toxiproxy_server() -> str:
    """Found before pytester points HOME at its temp dir (the default tools dir is under HOME)."""
    from harness._toxiproxy import find_toxiproxy_server
    from harness.errors import SetupError
    try:
        return find_toxiproxy_server()
    except SetupError as exc:
        pytest.skip(str(exc))


def cases_of(xml_path: Path) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in ET.parse(xml_path).getroot().iter("testcase")}


def properties(case: ET.Element) -> list[tuple[str, str]]:
    return [(p.get("name", ""), p.get("value", "")) for p in case.iter("property")]


def test_a_run_that_raised_records_error_seed_and_reproducer(pytester: pytest.Pytester,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    step = pytester.path / "step.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    pytester.makepyfile(test_unknown="""
        def test_unknown_nemesis(im_run, tmp_path):
            im_run("partition-moon", store=str(tmp_path))

        def test_plain():
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--im-seed", "2",
                                           "--junitxml", "junit.xml", "--im-summary-md",
                                           "out/summary.md")
    result.assert_outcomes(failed=1, passed=1)
    cases = cases_of(pytester.path / "junit.xml")
    props = dict(properties(cases["test_unknown_nemesis"]))
    assert props["imfault_verdict"] == "error" and props["imfault_seed"].isdigit()
    assert "--nemesis partition-moon" in props["imfault_reproduce"]
    assert properties(cases["test_plain"]) == []
    failure = cases["test_unknown_nemesis"].find("failure")
    assert failure is not None and failure.text is not None
    assert "raised UsageError: unknown nemesis 'partition-moon'" in failure.text
    assert "reproduce: imfault run" in failure.text
    summary = (pytester.path / "out" / "summary.md").read_text()
    assert "0 runs: no runs" in summary  # asked for: written even when nothing was checked
    assert not step.exists()  # no checked run: nothing appended to the step summary


@pytest.mark.integration
@pytest.mark.slow
def test_junit_properties_failure_text_summary_and_index_of_a_real_run(
        toxiproxy_server: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMFAULT_TOXIPROXY_SERVER", toxiproxy_server)
    step = pytester.path / "step.md"
    step.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(step))
    pytester.makeini("""
        [pytest]
        im_summary_md = summary.md
    """)
    pytester.makepyfile(test_ci="""
        def test_checked_then_failed(im_run):
            result = im_run(users=6, rate=10)
            assert result.results["delivery"]["attempted"] < 0, "deliberate failure"

        def test_plain():
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--im-seed", "3",
                                           "--im-dcs", "2", "--im-time-limit", "2",
                                           "--junitxml", "junit.xml", timeout=240)
    result.assert_outcomes(failed=1, passed=1)
    cases = cases_of(pytester.path / "junit.xml")
    props = properties(cases["test_checked_then_failed"])
    assert [name for name, _value in props] == PROPERTY_NAMES
    values = dict(props)
    run_dir = pytester.path / values["imfault_run_dir"]
    assert values["imfault_run_dir"].startswith("store/test_checked_then_failed/")
    assert values["imfault_report"] == f"{values['imfault_run_dir']}/report.html"
    assert (pytester.path / values["imfault_report"]).is_file()
    test = json.loads((run_dir / "test.json").read_text())
    results = json.loads((run_dir / "results.json").read_text())
    verdict = {True: "valid", False: "invalid"}.get(results["valid"], "unknown")
    assert values["imfault_verdict"] == verdict
    assert values["imfault_seed"] == str(test["seed"])
    assert values["imfault_reproduce"] == test["command"]
    assert properties(cases["test_plain"]) == []

    failure = cases["test_checked_then_failed"].find("failure")
    assert failure is not None and failure.text is not None
    assert "deliberate failure" in failure.text
    assert re.search(rf"^overall +{verdict}$", failure.text, re.MULTILINE), failure.text
    assert re.search(r"^delivery +\w+ +attempted=", failure.text, re.MULTILINE)
    assert f"reproduce: {test['command']}" in failure.text
    assert "reproduce the test: pytest test_ci.py::test_checked_then_failed" in failure.text

    summary = (pytester.path / "summary.md").read_text()
    relative = values["imfault_run_dir"].removeprefix("store/")
    assert "1 run: 1 " + verdict in summary
    assert f"| {relative} |" in summary and f"`{values['imfault_report']}`" in summary
    assert step.read_text() == "earlier step\n" + summary + "\n"
    index = (pytester.path / "store" / "index.html").read_text()
    assert f'href="{relative}/report.html"' in index
