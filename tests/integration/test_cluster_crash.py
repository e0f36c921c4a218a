"""Issue 2 "Done when": kill -9 the sender's hub right after `send_ok`, restart it: the message is
delivered. With `--bug volatile-store` the same scenario loses it (both asserted).

To make "only the sender's hub had it" certain, the sender's DC is blackholed from the other DCs
(a real Toxiproxy cut) before the send, so neither the eager push nor the gateway can carry the
message out before the kill; the cut is healed after the restart.
"""

from __future__ import annotations

import pytest
from cluster_helpers import ClusterFactory, login, next_delivery

from harness.backends.local import LocalBackend

pytestmark = pytest.mark.integration

WAN_MS = 50
ISOLATE_DC1 = {"dc1": ["dc2"], "dc2": ["dc1"]}


async def _send_kill_restart_and_receive(cluster: LocalBackend, msg_id: str) -> list[str]:
    """Ids delivered to the recipient (in dc2) within a few seconds after the restart+heal."""
    sender = await login(cluster, "dc1", f"sender-{msg_id}")
    try:
        cluster.wan.apply_grudge(ISOLATE_DC1)
        await sender.send(msg_id, f"rcpt-{msg_id}", "survive the crash")
        cluster.kill("dc1-hub")
        assert not cluster.is_running("dc1-hub")
    finally:
        await sender.close()
    cluster.restart("dc1-hub")
    assert cluster.is_running("dc1-hub")
    cluster.wan.heal()
    recipient = await login(cluster, "dc2", f"rcpt-{msg_id}")
    received: list[str] = []
    try:
        while True:  # up to 8 s for the first delivery, then 1 s of quiet for duplicates
            frame = await next_delivery(recipient, timeout=1 if received else 8)
            received.append(str(frame["id"]))
    except TimeoutError:
        pass
    finally:
        await recipient.close()
    return received


async def test_durable_store_survives_kill_9(cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory(dcs=2, wan_latency_ms=WAN_MS, seed=21)
    assert await _send_kill_restart_and_receive(cluster, "crash-durable") == ["crash-durable"]


async def test_volatile_store_loses_the_message(cluster_factory: ClusterFactory) -> None:
    cluster = cluster_factory(dcs=2, wan_latency_ms=WAN_MS, seed=22, bugs=("volatile-store",))
    assert await _send_kill_restart_and_receive(cluster, "crash-volatile") == []
