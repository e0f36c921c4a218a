"""Group commit in the hub driver (`HubNode`): the `Persist`s of the events handled in one loop
turn go into one SQLite transaction, and nothing the core put after a `Persist` (a `route_ok`, a
push, a delivery) leaves before that transaction is committed. Real SQLite (its trace callback
sees the `COMMIT`s), real sockets, a real hub process killed by SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from test_node_cluster import Cluster

from imcluster._config import HubConfig
from imcluster._events import AccessFrame
from imcluster._hubnode import HubNode
from imcluster._net import client_handshake, open_framed
from imcluster._store import HubStore
from imcluster.client import Client, ClientError

SECRET = b"group-commit-secret"


def _route(n: int) -> dict[str, Any]:
    return {"type": "route", "msg": {"id": f"m{n}", "from": "alice", "to": f"user{n}",
                                     "body": "hello", "sent_at": n}}


async def test_events_of_one_turn_share_one_commit_and_acks_follow_it(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    node = HubNode(HubConfig(dc="dc1"), listen=("127.0.0.1", 0), peers={}, db=str(db),
                   secret=SECRET)
    host, port = await node.start()
    conn = await open_framed(host, port)
    try:
        await client_handshake(conn, SECRET, role="access", dc="dc1", node="dc1-a1")
        for _ in range(200):
            if "dc1-a1" in node.access:
                break
            await asyncio.sleep(0.01)
        sender = node.access["dc1-a1"]
        await asyncio.sleep(0.05)  # let the connect's own effects settle
        commits_before = node.store.commits

        order: list[tuple[str, str]] = []  # what happened, in order: SQL statements and acks
        node.store._db.set_trace_callback(lambda sql: order.append(("sql", sql.strip())))
        send = sender.send

        def recording_send(frame: dict[str, Any]) -> bool:
            order.append((str(frame.get("type")), str(frame.get("id"))))
            return send(frame)

        sender.send = recording_send  # type: ignore[method-assign]
        n = 20
        for i in range(n):  # 20 events in one turn of the loop
            node.dispatch(AccessFrame("dc1-a1", _route(i)))
        assert node.store.commits == commits_before, "committed before the turn ended"
        assert not [o for o in order if o[0] == "route_ok"], "an ack before its commit"

        acks: list[str] = []
        while len(acks) < n:
            frame = await asyncio.wait_for(conn.read_frame(), 5.0)
            assert frame is not None
            if frame.get("type") == "route_ok":
                acks.append(frame["id"])
        assert sorted(acks) == sorted(f"m{i}" for i in range(n))
        commits = [i for i, (what, sql) in enumerate(order) if what == "sql" and sql == "COMMIT"]
        assert len(commits) == 1, f"{len(commits)} commits for {n} events of one turn"
        assert node.store.commits == commits_before + 1
        ack_at = [i for i, (what, _) in enumerate(order) if what == "route_ok"]
        assert len(ack_at) == n and min(ack_at) > commits[0], "an ack left before the commit"
        assert node.counters()["store_persists"] >= n
    finally:
        conn.close()
        await node.stop()
    stored = {e.key for e in HubStore(str(db)).load() if e.kind == "msg"}
    assert stored == {f"m{i}" for i in range(n)}


@pytest.mark.integration
async def test_sigkill_under_load_loses_no_acknowledged_message(tmp_path: Path) -> None:
    """Senders on four connections keep 100 sends each in flight (a new one for each that
    completes); the hub is SIGKILLed the moment the 100th `send_ok` arrives, with ~400 sends in
    flight. Every message ever acknowledged is in its SQLite file. (Sending 2,000 at once instead
    let an idle hub commit them all before the kill landed.)"""
    cluster = Cluster(tmp_path, dcs=1)
    acked: list[str] = []
    clients: list[Client] = []
    in_flight_at_kill: list[int] = []
    issued = [0]
    try:
        cluster.start()
        hub = cluster.procs["dc1-hub"].proc
        clients = [await cluster.client("dc1", f"sender{c}") for c in range(4)]

        async def one(client: Client, msg_id: str) -> None:
            try:
                await client.send(msg_id, "bob", "x" * 64, timeout=10.0)
            except (TimeoutError, OSError, ClientError):  # not acknowledged
                return
            acked.append(msg_id)
            if len(acked) == 100:
                in_flight_at_kill.append(issued[0] - len(acked))
                os.kill(hub.pid, signal.SIGKILL)  # at once, while sends are in flight

        async def sender(c: int, client: Client) -> None:
            window: set[asyncio.Future[None]] = set()
            for i in range(5000):
                if hub.poll() is not None or in_flight_at_kill:
                    break
                while len(window) >= 100:
                    _, window = await asyncio.wait(window, return_when=asyncio.FIRST_COMPLETED)
                issued[0] += 1
                window.add(asyncio.ensure_future(one(client, f"c{c}-{i}")))
            await asyncio.gather(*window, return_exceptions=True)

        sends = [asyncio.ensure_future(sender(c, client)) for c, client in enumerate(clients)]
        for _ in range(300):
            if hub.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert hub.wait(timeout=10) == -signal.SIGKILL
        await asyncio.sleep(0.5)  # acks the hub wrote before it died, still on their way
        for task in sends:
            task.cancel()
        await asyncio.gather(*sends, return_exceptions=True)
    finally:
        for client in clients:
            await client.close()
        cluster.stop()
    assert len(acked) >= 100
    with sqlite3.connect(tmp_path / "dc1.db") as db:
        stored = {key for (key,) in db.execute("SELECT key FROM entries WHERE kind = 'msg'")}
    lost = set(acked) - stored
    assert not lost, f"{len(lost)} acknowledged messages not committed: {sorted(lost)[:5]}"
    assert in_flight_at_kill and in_flight_at_kill[0] > 0, "no send was in flight at the kill"
