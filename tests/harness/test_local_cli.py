"""The `imfault` dispatcher: lazy subcommand registry and DESIGN §2 exit codes."""

from __future__ import annotations

import argparse
import sys
import types
from typing import Any

import pytest

from harness import cli
from harness.errors import SetupError, UsageError


def _install_subcommand(monkeypatch: pytest.MonkeyPatch, raises: BaseException | None) -> None:
    module = types.ModuleType("harness._cli_probe")

    def add_parser(subparsers: Any) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser("probe", help="test probe")
        parser.add_argument("--answer", type=int, default=0)
        return parser

    def handle(args: argparse.Namespace) -> int:
        if raises is not None:
            raise raises
        return int(args.answer)

    module.add_parser = add_parser  # type: ignore[attr-defined]
    module.handle = handle  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "harness._cli_probe", module)
    monkeypatch.setattr(cli, "SUBCOMMANDS", [*cli.SUBCOMMANDS, (
        "probe", "._cli_probe:add_parser", "._cli_probe:handle")])


def test_registered_subcommand_runs_and_returns_its_code(monkeypatch: pytest.MonkeyPatch) -> None:
    _install_subcommand(monkeypatch, None)
    assert cli.main(["probe", "--answer", "3"]) == 3


@pytest.mark.parametrize(("error", "code"), [(UsageError("bad"), 2), (SetupError("fix it"), 4)])
def test_errors_map_to_exit_codes(monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str],
                                  error: Exception, code: int) -> None:
    _install_subcommand(monkeypatch, error)
    assert cli.main(["probe"]) == code
    assert str(error) in capsys.readouterr().err


def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["no-such-command"]) == 2
    assert cli.main([]) == 2
    assert cli.main(["cluster", "up", "--dcs", "many"]) == 2
    assert cli.main(["cluster", "up", "--gossip", "telepathy"]) == 2
    assert "usage" in capsys.readouterr().err


def test_missing_subcommand_module_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "SUBCOMMANDS", [*cli.SUBCOMMANDS, (
        "ghost", "._cli_ghost_not_there:add_parser", "._cli_ghost_not_there:handle")])
    parser = cli.build_parser()
    assert "cluster" in parser.format_help() and "ghost" not in parser.format_help()


def test_a_named_subcommand_imports_only_its_own_module(tmp_path: Any) -> None:
    """`imfault check RUN` builds the `check` parser alone: `run`'s and `explore`'s modules (the
    runner, asyncio, networkx) are not imported, which was ~12 % of checking a 1M-op run."""
    import subprocess
    (tmp_path / "history.jsonl").write_text("")
    probe = ("import sys\nfrom harness.cli import main\n"
             f"code = main(['check', {str(tmp_path)!r}])\n"
             "print(code, sorted(m for m in ('harness.runner', 'harness._cli_explore', 'networkx',"
             " 'asyncio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=120, check=True).stdout.split("\n")[-2]
    assert out == "3 []"
