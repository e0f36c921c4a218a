"""Durable per-DC store of a hub: every replicated `Entry` in SQLite (WAL, synchronous=FULL).

The hub driver calls `persist` once per turn of its event loop with the entries of that turn's
`Persist` effects (group commit, `HubNode._commit`) and only carries out the effects after them
once it returns, so an entry acknowledged to anyone is committed. `load` returns every committed entry on
restart; the core rebuilds its replica, sequence counters, pending messages and tombstones from them.
With bug `volatile-store` the driver opens `HubStore(":memory:")`, so nothing survives a restart.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from ._state import Entry
from ._wire import compact_encoder

_encode_data = compact_encoder(ascii_only=True, sort_keys=True)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    origin TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    hlc_wall INTEGER NOT NULL,
    hlc_logical INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (origin, seq)
) WITHOUT ROWID
"""


class HubStore:
    """SQLite-backed set of entries keyed by dot `(origin, seq)`; inserts are idempotent."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        if path != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)
        self.commits = 0

    def persist(self, entries: Iterable[Entry]) -> int:
        """Commit `entries` in one transaction; returns how many were new."""
        rows = [(e.origin, e.seq, e.kind, e.key, e.hlc[0], e.hlc[1],
                 _encode_data(dict(e.data)))
                for e in entries]
        if not rows:
            return 0
        before = self._db.total_changes
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.executemany(
                "INSERT OR IGNORE INTO entries (origin, seq, kind, key, hlc_wall, hlc_logical, data)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        self.commits += 1
        return self._db.total_changes - before

    def load(self) -> list[Entry]:
        """Every committed entry, in (origin, seq) order."""
        cursor = self._db.execute(
            "SELECT origin, seq, kind, key, hlc_wall, hlc_logical, data FROM entries"
            " ORDER BY origin, seq")
        return [Entry(kind, key, origin, seq, (wall, logical), json.loads(data))
                for origin, seq, kind, key, wall, logical, data in cursor]

    def count(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM entries").fetchone()[0])

    def close(self) -> None:
        self._db.close()


__all__ = ["HubStore"]
