"""Tests of `imcluster.client`: deduplicated deliveries beside raw frames and auto-acks (against a
scripted TCP server), and against real node processes: SendRejected when the hub is down,
asyncio.TimeoutError when it hangs (SIGSTOP), LoginFailed on a bad token."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from test_node_cluster import SECRET, Cluster

from imcluster.client import Client, LoginFailed, SendRejected


def _line(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame).encode() + b"\n"


async def test_deliveries_are_deduplicated_and_raw_frames_reported() -> None:
    received: list[dict[str, Any]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        login = json.loads(await reader.readline())
        writer.write(_line({"type": "login_ok", "user": login["user"], "dc": "dc1",
                            "node": "dc1-a1", "conn": "dc1-a1:1"}))
        for msg_id in ("m1", "m1", "m2"):
            writer.write(_line({"type": "deliver", "id": msg_id, "from": "bob", "to": "alice",
                                "body": "b", "sent_at": 1, "via": "offline", "dc": "dc1"}))
        while line := await reader.readline():
            received.append(json.loads(line))

    server = await asyncio.start_server(script, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    frames: list[dict[str, Any]] = []
    client = Client("127.0.0.1", port, secret=SECRET, on_frame=frames.append)
    await client.connect()
    ok = await client.login("alice")
    assert ok["conn"] == "dc1-a1:1"
    unique = []
    async for delivery in client.deliveries():
        unique.append(delivery["id"])
        if len(unique) == 2:
            break
    assert unique == ["m1", "m2"]
    assert client.raw_deliveries.qsize() == 3
    assert [f["type"] for f in frames] == ["login_ok", "deliver", "deliver", "deliver"]
    for _ in range(100):
        if len(received) == 3:
            break
        await asyncio.sleep(0.01)
    assert [(f["type"], f["id"]) for f in received] == [("ack", "m1")] * 2 + [("ack", "m2")]
    await client.close()
    server.close()


@pytest.mark.integration
async def test_rejections_timeouts_and_bad_logins(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, dcs=1)
    try:
        cluster.start()
        port = cluster.access_ports["dc1"]
        with pytest.raises(ValueError):
            await Client("127.0.0.1", port).login("nobody")  # no token, no secret
        intruder = Client("127.0.0.1", port, secret="wrong secret")
        await intruder.connect()
        with pytest.raises(LoginFailed) as refused:
            await intruder.login("mallory")
        assert refused.value.code == "unauthorized"
        await asyncio.wait_for(intruder.closed.wait(), 2)  # a failed login closes
        await intruder.close()

        alice = await cluster.client("dc1", "alice")
        assert (await alice.ping())["type"] == "pong"
        hub = cluster.procs["dc1-hub"].proc
        os.kill(hub.pid, signal.SIGSTOP)  # the hub hangs: the send stays unanswered
        try:
            with pytest.raises(asyncio.TimeoutError):
                await alice.send("hung-1", "bob", "x", timeout=0.5)
        finally:
            os.kill(hub.pid, signal.SIGCONT)
        cluster.procs["dc1-hub"].kill()
        for _ in range(100):  # the access node notices the hub is gone
            try:
                await alice.send("down-1", "bob", "x", timeout=1.0)
            except SendRejected as exc:
                assert exc.code == "unavailable"
                break
            except TimeoutError:
                pass
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("no send_err while the hub was down")
        await alice.close()
    finally:
        cluster.stop()
