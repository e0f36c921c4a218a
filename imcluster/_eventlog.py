"""A hub's event log: one JSON line per `LogEvent` effect (`originate` or `apply` of a dot).

Line format (docs/architecture.md "Event log"):
`{"event","kind","key","origin","seq","ts_ns","dc","node"}` with the real wall clock in `ts_ns`
(never the skewed clock the core sees). The driver calls `flush` after the effects of each event
and before each store commit, so a killed hub loses no line of an entry it committed (one write
per event, not per line: a repair batch logs hundreds of lines).
"""

from __future__ import annotations

import time
from typing import IO

from ._state import Entry
from ._wire import compact_encoder

_encode_record = compact_encoder(ascii_only=True)


class EventLog:
    """Appends event lines to `path` (or nowhere when `path` is None)."""

    def __init__(self, path: str | None, dc: str, node: str) -> None:
        self.dc = dc
        self.node = node
        self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115
        self.lines = 0

    def write(self, event: str, entry: Entry) -> None:
        record = {"event": event, "kind": entry.kind, "key": entry.key, "origin": entry.origin,
                  "seq": entry.seq, "ts_ns": time.time_ns(), "dc": self.dc, "node": self.node}
        self.lines += 1
        if self._file is not None:
            self._file.write(_encode_record(record) + "\n")

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


__all__ = ["EventLog"]
