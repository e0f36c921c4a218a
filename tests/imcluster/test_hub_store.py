"""Tests of the hub's SQLite store: round trip, idempotence, and recovery after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from imcluster._state import Entry
from imcluster._store import HubStore

WRITER = r"""
import sys
from imcluster._state import Entry
from imcluster._store import HubStore
store = HubStore(sys.argv[1])
seq = 0
while True:
    batch = []
    for _ in range(3):
        seq += 1
        batch.append(Entry("msg", f"m{seq}", "dc1", seq, (seq * 1000, 0),
                           {"id": f"m{seq}", "from": "a", "to": "b", "body": "x" * 50,
                            "sent_at": seq}))
    store.persist(batch)
    print(f"committed {seq}", flush=True)
"""


def _entry(seq: int, kind: str = "msg") -> Entry:
    return Entry(kind, f"k{seq}", "dc2", seq, (seq, 1), {"n": seq, "nested": {"a": [1, 2]}})


def test_round_trip_and_idempotent(tmp_path: Path) -> None:
    store = HubStore(str(tmp_path / "hub.db"))
    assert store.persist([_entry(1), _entry(2, "tomb")]) == 2
    assert store.persist([_entry(2, "tomb"), _entry(3, "coord")]) == 1
    store.close()
    reopened = HubStore(str(tmp_path / "hub.db"))
    assert reopened.load() == [_entry(1), _entry(2, "tomb"), _entry(3, "coord")]
    mode = reopened._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    reopened.close()


def test_memory_store_is_volatile() -> None:
    store = HubStore(":memory:")
    store.persist([_entry(1)])
    assert store.load() == [_entry(1)]
    store.close()
    assert HubStore(":memory:").load() == []


def test_every_reported_commit_survives_sigkill(tmp_path: Path) -> None:
    db = str(tmp_path / "hub.db")
    proc = subprocess.Popen([sys.executable, "-c", WRITER, db], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        assert proc.stdout is not None
        last = 0
        for line in proc.stdout:
            last = int(line.split()[1])
            if last >= 300:
                os.kill(proc.pid, signal.SIGKILL)  # right after it reported a commit
                break
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    entries = HubStore(db).load()
    seqs = {e.seq for e in entries}
    assert set(range(1, last + 1)) <= seqs
    assert seqs == set(range(1, max(seqs) + 1))  # transactions are atomic: no torn batch
    assert len(seqs) % 3 == 0
