"""The deliberately failing example (`examples/test_failing_scenario.py`) run as a user would:
pytest in a subprocess, plugin from the entry point. Its failure report must hold the verdict
table, the run directory, the report path and the commands that reproduce the run and the test;
and the directory and report it names must exist.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = "examples/test_failing_scenario.py"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def line_of(text: str, pattern: str) -> str:
    """The group of the one whole line of `text` matching `pattern` (AssertionError if none)."""
    found = re.search(f"^{pattern}$", text, re.MULTILINE)
    assert found is not None, f"no line matches {pattern!r} in:\n{text}"
    return found.group(1)


def test_examples_are_not_collected_by_default() -> None:
    out = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
                          "--collect-only", "-q"], cwd=REPO, check=False, capture_output=True,
                         text=True, timeout=120)
    assert "examples/" not in out.stdout
    assert "tests/scenarios/test_example_from_docs.py" in out.stdout


def test_failing_example_prints_verdict_run_dir_report_and_reproduce_command(
        tmp_path: Path, spawn: Callable[..., subprocess.Popen[str]]) -> None:
    store = tmp_path / "store"
    child = spawn([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", EXAMPLE,
                   "--im-seed", "5", "--im-store", str(store)], store=store,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = child.communicate(timeout=240)  # on a timeout `spawn` stops its cluster
    out = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    text = out.stdout
    assert out.returncode == 1, text + out.stderr
    assert "1 failed" in text
    section = text[text.index("- imfault -"):]
    assert re.search(r"^overall\s+invalid", section, re.MULTILINE), section
    assert re.search(r"^delivery\s+invalid\s+.*lost_count=[1-9]", section, re.MULTILINE), section
    run_dir = Path(line_of(section, r"run directory: (\S+)"))
    report = Path(line_of(section, r"report: (\S+)  \(file://\S+\)"))
    command = line_of(section, r"reproduce: (imfault run .+)")
    pytest_command = line_of(section, r"reproduce the test: (pytest .+)")
    assert run_dir.is_relative_to(store) and (run_dir / "history.jsonl").is_file()
    assert report.is_file() and report.parent == run_dir
    assert command == json.loads((run_dir / "test.json").read_text())["command"]
    assert "--bug gateway-drop" in command and "--nemesis partition-one" in command
    assert f"{EXAMPLE}::test_gateway_drop_loses_messages_under_a_partition" in pytest_command
    assert "--im-seed 5" in pytest_command
