"""Computing part of a check in a forked child process, its (small) result sent back by a pipe.

Checking a big run is CPU work over millions of Python objects built once (the loaded run and its
index); a second process can share them copy-on-write after `os.fork` and compute some checkers
while this one computes the others. `Forked(work)` runs `work()` in a child and `result()` returns
what it returned (pickled through a pipe). A child that fails in any way (an exception escaping
`work`, a signal, a result that cannot be pickled, a short read) makes `result()` raise
`ChildFailed`: never a silent result. Leaving the `with` block (also on an exception or Ctrl-C in
this process) kills the child if it still runs and reaps it.

`fork_usable()` says whether forking is safe here: `os.fork` exists and this process runs no
other thread (a fork copies only the calling thread; locks held by the others would stay held).
`spare_core()` whether it is worth it: a core is likely idle.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self

_RESET_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                       if hasattr(signal, name))


class ChildFailed(RuntimeError):
    """The child computing part of a check did not return a result."""


def fork_usable() -> bool:
    """True if `Forked` may be used: `os.fork` exists and no other thread runs."""
    return hasattr(os, "fork") and threading.active_count() == 1


def spare_core() -> bool:
    """True if a second process would likely get a core of its own: two cores or more, and a
    1-minute load average below their number less one half. On a saturated machine the child
    only adds its page copies (docs/checkers.md, Speed)."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # not measurable here: assume idle cores
        load = 0.0
    return cores >= 2 and load < cores - 0.5


class Forked:
    """`work()` computed in a forked child; use as a context manager, then call `result()`."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self._work = work
        self.pid: int | None = None
        self._fd: int | None = None
        self._status: int | None = None

    def __enter__(self) -> Self:
        read_fd, write_fd = os.pipe()
        try:
            pid = os.fork()
        except BaseException:
            os.close(read_fd)
            os.close(write_fd)
            raise
        if pid == 0:  # the child: never returns
            os.close(read_fd)
            _child(self._work, write_fd)
        os.close(write_fd)
        self.pid, self._fd = pid, read_fd
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def result(self) -> Any:
        """What `work()` returned in the child (waits for it); `ChildFailed` if it failed."""
        if self._fd is None or self.pid is None:
            raise ChildFailed("the child process was not started or was closed")
        chunks = []
        while True:
            block = os.read(self._fd, 1 << 20)
            if not block:
                break
            chunks.append(block)
        self._reap()
        status = self._status
        assert status is not None
        if os.WIFSIGNALED(status):
            raise ChildFailed(f"checker process killed by signal {os.WTERMSIG(status)}")
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            detail = b"".join(chunks).decode("utf-8", "replace").strip()
            raise ChildFailed(f"checker process exited {code}" + (f": {detail}" if detail else ""))
        try:
            return pickle.loads(b"".join(chunks))
        except Exception as error:  # noqa: BLE001 (a truncated or garbled result)
            raise ChildFailed(f"checker process result unreadable: {error}") from None

    def close(self) -> None:
        """Kill the child if it still runs, reap it and close the pipe (idempotent)."""
        if self.pid is not None and self._status is None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:  # exited already: still to be reaped
                pass
            self._reap()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _reap(self) -> None:
        """Wait for the child and keep its status (once)."""
        if self.pid is None or self._status is not None:
            return
        while True:
            try:
                _, status = os.waitpid(self.pid, 0)
            except InterruptedError:
                continue
            except ChildProcessError:  # reaped elsewhere (e.g. a SIGCHLD handler)
                status = 0x7F00  # unknown: read as "exited 127"
            break
        self._status = status


def _child(work: Callable[[], Any], fd: int) -> None:
    """The child's whole life: compute, send the pickled result (or the error), `_exit`."""
    code = 1
    try:
        for number in _RESET_SIGNALS:  # not the parent's handlers (e.g. a run's teardown)
            signal.signal(number, signal.SIG_DFL)
        try:
            payload = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException as error:  # noqa: BLE001 (reported through the exit code and pipe)
            payload = f"{type(error).__name__}: {error}".encode("utf-8", "replace")
        else:
            code = 0
        view = memoryview(payload)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:  # noqa: BLE001 (nothing may escape into the parent's code)
        code = code or 1
    finally:
        os._exit(code)
