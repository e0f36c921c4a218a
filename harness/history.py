"""The history: ops appended to `history.jsonl` as they happen (DESIGN §2 "History").

`HistoryWriter` is thread-safe (nemesis ops complete in a worker thread), stamps a monotone
`index` and `time` (ns since the writer's start, from a monotonic clock, or from the `clock` it is
given: the sim backend's virtual clock), and flushes each line so a crashed run can still be
checked (`flush=False`: the sim backend, whose run dies with its process anyway, writes buffered). `ProcessTable` implements Jepsen's rule: a logical process
(a user, a "thread") whose op ended `info` continues under a fresh process id.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Self

from imcluster._wire import compact_encoder

from .ops import NEMESIS, Op, Process

_encode_line = compact_encoder(ascii_only=True)
"""One C encoder for every line (`json.dumps` builds one per call: a third of a line's cost)."""


class HistoryWriter:
    """Append-only, flushed, thread-safe JSON-lines writer of ops."""

    def __init__(self, path: str | Path, start_ns: int | None = None,
                 clock: Callable[[], int] = time.monotonic_ns, flush: bool = True) -> None:
        self.path = Path(path)
        self.clock = clock
        self.flush = flush
        self.start_ns = clock() if start_ns is None else start_ns
        self._lock = threading.Lock()
        self._next_index = 0
        self._last_time = 0
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
        self.counts: dict[str, int] = {}

    def now(self) -> int:
        """Nanoseconds since the test start (monotonic)."""
        return self.clock() - self.start_ns

    def append(self, op: Op) -> Op:
        """Record `op`, stamping `index` and `time`; returns the recorded op."""
        with self._lock:
            if self._file is None:
                raise ValueError("history is closed")
            now = max(self.now(), self._last_time)
            stamped = Op(self._next_index, now, op.process, op.type, op.f, op.value, op.error)
            self._next_index += 1
            self._last_time = now
            self._file.write(_encode_line(stamped.to_json()) + "\n")
            if self.flush:
                self._file.flush()
            key = f"{stamped.f}:{stamped.type}"
            self.counts[key] = self.counts.get(key, 0) + 1
            return stamped

    def record(self, process: Process, type: str, f: str, value: Any = None,
               error: str | None = None) -> Op:
        """Build and append an op."""
        return self.append(Op(-1, 0, process, type, f, value, error))

    @property
    def size(self) -> int:
        return self._next_index

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_history(path: str | Path) -> Iterator[Op]:
    """Ops of a `history.jsonl`, skipping a torn last line (a crashed run)."""
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            yield Op.from_json(obj)


class ProcessTable:
    """Maps logical processes ("threads": users, and the nemesis) to their current process id.

    Jepsen's rule: when an op of a process ends `info` (indeterminate), that process may still
    be running the op, so the thread continues as a fresh process id. The nemesis keeps its id.
    """

    def __init__(self, threads: list[str]) -> None:
        self._lock = threading.Lock()
        self._current: dict[str, Process] = {}
        self._thread_of: dict[Process, str] = {}
        self._next = 0
        self._snapshot: Mapping[str, Process] | None = None
        for thread in threads:
            self._assign(thread)

    def _assign(self, thread: str) -> Process:
        if thread == NEMESIS:
            pid: Process = NEMESIS
        else:
            pid = self._next
            self._next += 1
        self._current[thread] = pid
        self._thread_of[pid] = thread
        self._snapshot = None
        return pid

    def process(self, thread: str) -> Process:
        with self._lock:
            return self._current[thread]

    def thread(self, process: Process) -> str:
        with self._lock:
            return self._thread_of[process]

    def crashed(self, thread: str) -> Process:
        """The thread's op ended `info`: give it a fresh process id, returned."""
        with self._lock:
            if thread == NEMESIS:
                return NEMESIS
            return self._assign(thread)

    def snapshot(self) -> Mapping[str, Process]:
        """thread -> current process (an immutable copy, rebuilt only after a change)."""
        with self._lock:
            if self._snapshot is None:
                self._snapshot = MappingProxyType(dict(self._current))
            return self._snapshot


__all__ = ["HistoryWriter", "ProcessTable", "read_history"]
