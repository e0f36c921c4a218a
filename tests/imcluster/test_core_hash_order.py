"""The hub core never lets hash order decide what it originates: a user with two sessions on an
access node that goes away is taken offline the same way under every PYTHONHASHSEED (the sim
backend's byte-identical histories depend on it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import random
from imcluster._config import HubConfig
from imcluster._events import AccessDisconnected, AccessFrame, LogEvent
from imcluster._hub import HubCore

hub = HubCore(HubConfig(dc="dc1", peers=("dc2",)), random.Random(0))
for n, conn in enumerate(["dc1-a1:1", "dc1-a1:2", "dc1-a1:3"]):
    hub.handle(AccessFrame("dc1-a1", {"type": "coord", "user": "alice", "conn": conn,
                                      "online": True}), 1000 + n)
effects = hub.handle(AccessDisconnected("dc1-a1"), 2000)
print([(e.entry.seq, dict(e.entry.data)) for e in effects if isinstance(e, LogEvent)])
"""


def test_dropping_an_access_node_originates_the_same_entries_under_every_hash_seed() -> None:
    outputs = set()
    for seed in range(8):
        env = dict(os.environ, PYTHONHASHSEED=str(seed))
        done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env, check=True,
                              capture_output=True, text=True, timeout=60)
        outputs.add(done.stdout)
    assert len(outputs) == 1, outputs
