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


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_a_stop_signal_while_the_subcommand_loads_exits_130_not_by_signal(sig: str) -> None:
    """The `imfault` process (main() without argv) treats SIGTERM and SIGHUP like Ctrl-C from its
    first line: one arriving while the subcommand's module is imported (here: sent by the import
    itself) ends in `imfault: interrupted`, exit 130, no traceback; before, SIGTERM and SIGHUP
    killed the process by signal there (the run's own handlers come later)."""
    import subprocess
    probe = (
        "import os, signal, sys, time\n"
        "from harness import cli\n"
        "real_load = cli._load\n"
        "def slow_load(ref):\n"
        f"    os.kill(os.getpid(), signal.{sig})\n"
        "    time.sleep(10)  # the signal lands in here\n"
        "    return real_load(ref)\n"
        "cli._load = slow_load\n"
        "sys.argv = ['imfault', 'nemeses']\n"
        "sys.exit(cli.main())\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=False, preexec_fn=_default_stop_signals)
    assert done.returncode == 130, (done.returncode, done.stderr)
    assert "imfault: interrupted" in done.stderr and "Traceback" not in done.stderr


def test_a_stop_signal_the_parent_ignores_stays_ignored() -> None:
    """`nohup`-style: SIGHUP set to be ignored by the parent is not turned into a Ctrl-C."""
    import signal
    import subprocess
    probe = ("import os, signal, sys\nfrom harness import cli\n"
             "cli._stop_like_ctrl_c()\n"
             "print(signal.getsignal(signal.SIGHUP) is signal.SIG_IGN,"
             " signal.getsignal(signal.SIGTERM) is signal.default_int_handler)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, check=True,
                          preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    assert done.stdout.split() == ["True", "True"]


def _default_stop_signals() -> None:
    """In the child: SIGTERM and SIGHUP at their default action, whatever the test runner set
    (a pytest-xdist worker ignores SIGINT, and an ignored signal is inherited)."""
    import signal
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
