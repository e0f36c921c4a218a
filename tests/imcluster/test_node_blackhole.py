"""A hub whose link to one peer is blackholed (connection open, bytes vanish) keeps gossiping and
routing with its other peers, closes the hung link after `--peer-timeout`, and reconnects once the
blackhole heals. Three real hub processes; dc1 reaches dc3 through a small blackholing TCP relay
written here (the Toxiproxy version of this lives in the harness tests)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest
from test_node_cluster import SECRET, Cluster, NodeProcess

from imcluster.client import AdminClient

pytestmark = pytest.mark.integration


class BlackholeRelay:
    """Forwards TCP both ways; while `cut`, bytes in both directions are read and dropped."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.cut = False
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> BlackholeRelay:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.ensure_future(self._pump(src, dst))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        try:
            while data := await src.read(65536):
                if not self.cut:
                    dst.write(data)
                    await dst.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if not self.cut:
                dst.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for task in list(self.tasks):
            task.cancel()


async def hub_status(cluster: Cluster, dc: str) -> dict[str, object]:
    async with AdminClient("127.0.0.1", cluster.hub_ports[dc], SECRET) as admin:
        return await admin.status()


async def test_blackholed_peer_does_not_block_the_others(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, dcs=3)
    relay = await BlackholeRelay(cluster.hub_ports["dc3"]).start()
    try:
        for dc in cluster.dcs:
            peers = [f"--peer={p}=127.0.0.1:"
                     f"{relay.port if (dc, p) == ('dc1', 'dc3') else cluster.hub_ports[p]}"
                     for p in cluster.dcs if p != dc]
            args = ["hub", "--dc", dc, "--listen", f"127.0.0.1:{cluster.hub_ports[dc]}",
                    *peers, "--db", str(tmp_path / f"{dc}.db"), "--peer-timeout", "0.5"]
            proc = NodeProcess(args, tmp_path / f"{dc}-hub.log")
            cluster.procs[f"{dc}-hub"] = proc
            proc.wait_ready()
        for dc in ("dc1", "dc2"):
            cluster.start_access(dc)
        alice = await cluster.client("dc1", "alice")
        for _ in range(50):  # dc1's link to dc3 (started before dc3 listened) is up
            if "dc3" in (await hub_status(cluster, "dc1"))["peers_up"]:
                break
            await asyncio.sleep(0.1)
        relay.cut = True
        # dc1's digests to dc3 go unanswered: the link is recycled (after 3 timeouts, dc3 being
        # heard on its own link to dc1: `BUSY_PEER_GRACE`)
        await asyncio.sleep(2.0)
        bob = await cluster.client("dc2", "bob")
        await asyncio.sleep(0.3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(5):
            await alice.send(f"hole-{n}", "bob", "through the healthy link")
        got = {(await asyncio.wait_for(bob.raw_deliveries.get(), 3.0))["id"] for _ in range(5)}
        assert got == {f"hole-{n}" for n in range(5)}
        assert loop.time() - started < 2.0
        status1 = await hub_status(cluster, "dc1")
        counters = status1["counters"]
        assert isinstance(counters, dict) and counters["peer_hang_closes"] >= 1
        for _ in range(20):  # dc1 and dc2 keep converging while dc3 is unreachable from dc1
            if (await hub_status(cluster, "dc1"))["vv"] == (await hub_status(cluster, "dc2"))["vv"]:
                break
            await asyncio.sleep(0.05)
        assert (await hub_status(cluster, "dc1"))["vv"] == (await hub_status(cluster, "dc2"))["vv"]
        relay.cut = False  # heal: dc1 reconnects to dc3 and every vector converges
        for _ in range(100):
            vectors = [(await hub_status(cluster, dc))["vv"] for dc in cluster.dcs]
            if vectors[0] == vectors[1] == vectors[2]:
                break
            await asyncio.sleep(0.1)
        assert vectors[0] == vectors[1] == vectors[2]
        for _ in range(50):  # the recycled link to dc3 is back (after at most one backoff)
            if "dc3" in (await hub_status(cluster, "dc1"))["peers_up"]:
                break
            await asyncio.sleep(0.1)
        assert "dc3" in (await hub_status(cluster, "dc1"))["peers_up"]
        for client in (alice, bob):
            await client.close()
    finally:
        cluster.stop()
        with contextlib.suppress(Exception):
            await relay.stop()
