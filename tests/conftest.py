"""Session-wide guard: no test may leave a node or toxiproxy-server process behind.

At the end of the session, direct children of the pytest process that still run
`python -m imcluster` or `toxiproxy-server` are listed in the terminal summary as leaked and then
stopped by their pid (SIGTERM, then SIGKILL). Other processes are never touched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_leaked: list[str] = []


def _children_of(pid: int) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        found.append((int(entry.name), cmd.strip()))
    return found


def _is_cluster_process(cmd: str) -> bool:
    return "-m imcluster" in cmd or "toxiproxy-server" in cmd


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not Path("/proc").is_dir():
        return
    from harness._procs import pid_alive, stop_pid

    for pid, cmd in _children_of(os.getpid()):
        if _is_cluster_process(cmd) and pid_alive(pid):
            _leaked.append(f"{pid}: {cmd}")
            stop_pid(pid, grace=2.0)
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _leaked:
        terminalreporter.section("leaked cluster processes (stopped by pid)", red=True)
        for line in _leaked:
            terminalreporter.write_line(line)
