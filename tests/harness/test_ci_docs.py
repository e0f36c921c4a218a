"""docs/ci.md's workflows use only options and commands that exist: every `--im-*` flag is a
plugin option, every `imfault COMMAND` a subcommand, every option given to `imfault index` one of
its own; and both CI files upload the store and publish the JUnit file."""

from __future__ import annotations

import re
from pathlib import Path

from harness._pytest_options import IM_OPTIONS
from harness.cli import SUBCOMMANDS, build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "ci.md"


def yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)


def test_ci_doc_uses_existing_options_and_commands() -> None:
    text = DOC.read_text(encoding="utf-8")
    blocks = yaml_blocks(text)
    assert len(blocks) == 3  # GitHub workflow, its CLI-only variant, GitLab job
    flags = {option.flag for option in IM_OPTIONS}
    used = set(re.findall(r"--im-[a-z-]+", text))
    assert used and used <= flags
    commands = {name for name, _add, _handler in SUBCOMMANDS}
    called = {command for block in blocks
              for command in re.findall(r"(?m)(?:^\s*|run: |- )imfault (\w+)", block)}
    assert {"index", "run"} <= called <= commands
    for block in blocks:
        for line in re.findall(r"imfault index ([^|;\n]*)", block):
            args = line.split("||")[0].split(">>")[0].split()
            build_parser().parse_args(["index", *args])  # UsageError if an option is unknown
    github, _cli_only, gitlab = blocks
    for block in (github, gitlab):
        assert "--junitxml junit.xml" in block and "--im-summary-md imfault-summary.md" in block
        assert "store/" in block and "toxiproxy-server" in block
    assert "actions/upload-artifact" in github and "report_paths: junit.xml" in github
    assert "junit: junit.xml" in gitlab and "when: always" in gitlab
