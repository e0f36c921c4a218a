"""Child processes for the local backend: start, wait for a ready line, stop by pid; free ports.

Every child runs in its own session/process group (`start_new_session=True`) so a Ctrl-C on the
terminal reaches only the harness, which then stops its children itself. Children are only ever
signalled by the pid we started (and its process group, whose id is that pid), never by name.
A child's stdout and stderr go to one log file; its ready line (a JSON object with
`"ready": true` on its own line) is found by reading that file from where this start began.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import random
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import SetupError

__all__ = [
    "ChildProcess",
    "free_port",
    "log_tail",
    "pid_alive",
    "start_child",
    "stop_pid",
]

_handed_out_ports: set[int] = set()
_port_rng = random.Random()  # which free port a node listens on does not affect a test
_port_guard = threading.Lock()  # one hand-out at a time in this process
_reservations_fd: int | None = None
LISTEN_PORT_FLOOR = 10_000
EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_port_range() -> tuple[int, int]:
    """The kernel's range of source ports for outgoing connections (Linux default 32768-60999)."""
    try:
        low, high = (int(part) for part in EPHEMERAL_RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_reservations_path() -> Path:
    """The file whose byte `port` a process locks to reserve `port`: one per user and machine in
    the system temp directory (`TMPDIR`), not under `$HOME`, which test tools move."""
    return Path(tempfile.gettempdir()) / f"imfault-ports-{os.getuid()}.lock"


def _reservations() -> int:
    """This process's descriptor of the reservation file, opened once and never closed (closing
    any descriptor of the file would drop all of this process's locks on it)."""
    global _reservations_fd
    if _reservations_fd is None:
        path = port_reservations_path()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SetupError(f"cannot open the listen-port reservations {path}: {exc}") from None
        if os.fstat(fd).st_uid != os.getuid():  # in a shared /tmp: someone else's file
            os.close(fd)
            raise SetupError(f"the listen-port reservations {path} belong to another user; "
                             "remove the file or set TMPDIR")
        _reservations_fd = fd
    return _reservations_fd


def _reserve(port: int) -> bool:
    """Reserve `port` for the life of this process: a POSIX write lock on byte `port` of the
    reservation file. False when another live process holds it (the kernel drops a process's
    locks when it exits, even on SIGKILL: no stale reservation)."""
    try:
        fcntl.lockf(_reservations(), fcntl.LOCK_EX | fcntl.LOCK_NB, 1, port)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise SetupError(f"cannot lock listen-port reservation {port}: {exc}") from None
    return True


def _unreserve(port: int) -> None:
    fcntl.lockf(_reservations(), fcntl.LOCK_UN, 1, port)


def _claim(host: str, port: int, *, check_bindable: bool) -> bool:
    """Hand out `port` if no earlier hand-out of this or another live process has it."""
    if port in _handed_out_ports or not _reserve(port):
        return False
    if check_bindable and not _bindable(host, port):
        _unreserve(port)
        return False
    _handed_out_ports.add(port)
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that is free now and was not handed out before by this process nor
    by another live one (of the same user and temp directory).

    Chosen outside the kernel's ephemeral range: a port from that range, released until the node
    binds it, can meanwhile become the source port of an outgoing connection (toxiproxy dialling
    a hub that is not listening yet or was just killed: even a TCP self-connect), and the node's
    bind then fails with "address already in use". Falls back to a kernel-chosen port.

    The port is not held bound (the node, broker or docker-proxy binds it, again after a
    restart), so it is reserved instead: a lock on byte `port` of `port_reservations_path()`,
    kept until this process exits. Another harness process (a pytest-xdist worker, a second
    `imfault run`) skips it, also while a killed node is down and before it binds it again.
    Costs one file descriptor per process; reservations are never released before the process
    exits, as this process never hands a port out twice either.
    """
    low, high = ephemeral_port_range()
    outside = [r for r in (range(LISTEN_PORT_FLOOR, low), range(high + 1, 65536)) if len(r)]
    with _port_guard:
        for _ in range(200 if outside else 0):
            span = _port_rng.choice(outside)
            port = span[_port_rng.randrange(len(span))]
            if _claim(host, port, check_bindable=True):
                return port
        for _ in range(200):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
            if _claim(host, port, check_bindable=False):
                return port
    raise SetupError(f"could not find a free TCP port on {host}")


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def log_tail(path: Path | None, lines: int = 30) -> str:
    """The last `lines` lines of a log file ('' when there is none)."""
    if path is None or not path.exists():
        return ""
    data = path.read_bytes()[-64 * 1024 :].decode("utf-8", errors="replace")
    return "\n".join(data.splitlines()[-lines:])


@dataclass
class ChildProcess:
    """A child started by `start_child`; `ready` holds its parsed ready line (if any)."""

    name: str
    argv: list[str]
    popen: subprocess.Popen[bytes]
    log_path: Path
    log_offset: int
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def is_running(self) -> bool:
        """True while the child has not exited (a stopped/paused child is running)."""
        return self.popen.poll() is None

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Wait for the ready line written after this start; `SetupError` with the log tail if the
        child exits or `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            found = self._find_ready_line()
            if found is not None:
                self.ready = found
                return found
            if self.popen.poll() is not None:
                raise SetupError(
                    f"{self.name} exited with code {self.popen.returncode} before it was ready; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            if time.monotonic() >= deadline:
                raise SetupError(
                    f"{self.name} printed no ready line within {timeout:.0f} s; "
                    f"log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.02)

    def _find_ready_line(self) -> dict[str, Any] | None:
        try:
            with open(self.log_path, "rb") as log:
                log.seek(self.log_offset)
                data = log.read()
        except OSError:
            return None
        for raw in data.splitlines():
            line = raw.strip()
            if not line.startswith(b"{"):
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                continue
            if isinstance(obj, dict) and obj.get("ready") is True:
                return obj
        return None

    def stop(self, grace: float = 3.0) -> None:
        """SIGTERM, then SIGKILL after `grace` seconds; reaps the child. Idempotent."""
        stop_pid(self.pid, grace=grace, popen=self.popen)


def start_child(
    argv: Sequence[str],
    *,
    name: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    on_start: Callable[[ChildProcess], None] | None = None,
) -> ChildProcess:
    """Start `argv` in a new session with stdout+stderr appended to `log_path`.

    `env` entries are added to (override) the current environment. `on_start` is called as soon
    as the pid exists (the backend records pids there before waiting for readiness).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = dict(os.environ)
    if env:
        child_env.update(env)
    with open(log_path, "ab") as log:
        offset = log.tell()
        try:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=child_env,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,
            )
        except OSError as exc:
            raise SetupError(f"cannot start {name} ({argv[0]}): {exc}") from exc
    child = ChildProcess(name=name, argv=list(argv), popen=popen, log_path=log_path,
                         log_offset=offset)
    if on_start is not None:
        on_start(child)
    return child


def _signal_group(pid: int, sig: int) -> None:
    """Signal the process group led by `pid` (our children lead their own), else the pid."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_pid(pid: int, grace: float = 3.0, popen: subprocess.Popen[bytes] | None = None) -> None:
    """Stop a child by pid: SIGTERM (+SIGCONT for a paused one), SIGKILL after `grace` s.

    With `popen` the child is reaped; without it (a pid from an earlier run's pids.json) we only
    wait for the pid to disappear. Idempotent: an absent pid is fine.
    """
    if popen is not None and popen.poll() is not None:
        return
    if popen is None and not pid_alive(pid):
        return
    _signal_group(pid, signal.SIGTERM)
    _signal_group(pid, signal.SIGCONT)
    if _wait_gone(pid, grace, popen):
        return
    _signal_group(pid, signal.SIGKILL)
    _wait_gone(pid, 5.0, popen)


def _wait_gone(pid: int, timeout: float, popen: subprocess.Popen[bytes] | None) -> bool:
    if popen is not None:
        try:
            popen.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return not pid_alive(pid)
