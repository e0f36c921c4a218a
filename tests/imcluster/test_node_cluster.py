"""Real node processes on loopback (no Toxiproxy): handshake refusal, a 2-DC cluster delivering
cross-DC and offline messages, a hub killed by SIGKILL right after `send_ok` (delivered after the
restart; lost with `--bug volatile-store`), a logout while the hub was down (offline after its
restart), and the admin requests."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_core_peer_robust import SURROGATE, bad_access_frames, bad_entries

from imcluster._auth import hello_mac
from imcluster._net import HandshakeRefused, client_handshake, open_framed
from imcluster.client import AdminClient, Client, ClientError, LoginFailed

pytestmark = pytest.mark.integration

SECRET = "test-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NodeProcess:
    """One `python -m imcluster ...` subprocess in its own session, ended by pid."""

    def __init__(self, args: list[str], log_path: Path, secret: str | None = SECRET) -> None:
        self.args = args
        self.log_path = log_path
        env = dict(os.environ)
        env.pop("IMCLUSTER_SECRET", None)
        if secret is not None:
            env["IMCLUSTER_SECRET"] = secret
        self.log = open(log_path, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "imcluster", *args],
                                     stdout=subprocess.PIPE, stderr=self.log, env=env,
                                     start_new_session=True)

    def wait_ready(self, timeout: float = 15.0) -> dict[str, object]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"no ready line from {self.args}: {self.log_path.read_text()}")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"node exited ({self.proc.wait()}): {self.log_path.read_text()}")
        return dict(json.loads(line))

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        self.proc.wait(timeout=10)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()


class Cluster:
    """Hubs with direct `--peer` addresses and one access node per DC."""

    def __init__(self, tmp: Path, dcs: int = 2, hub_args: tuple[str, ...] = ()) -> None:
        self.tmp = tmp
        self.dcs = [f"dc{i}" for i in range(1, dcs + 1)]
        self.hub_ports = {dc: free_port() for dc in self.dcs}
        self.access_ports = {dc: free_port() for dc in self.dcs}
        self.hub_args = hub_args
        self.procs: dict[str, NodeProcess] = {}

    def start_hub(self, dc: str) -> None:
        peers = [f"--peer={p}=127.0.0.1:{self.hub_ports[p]}" for p in self.dcs if p != dc]
        args = ["hub", "--dc", dc, "--listen", f"127.0.0.1:{self.hub_ports[dc]}", *peers,
                "--db", str(self.tmp / f"{dc}.db"), "--event-log",
                str(self.tmp / f"{dc}-events.jsonl"), "--seed", "7", *self.hub_args]
        proc = NodeProcess(args, self.tmp / f"{dc}-hub.log")
        self.procs[f"{dc}-hub"] = proc
        assert proc.wait_ready()["node"] == f"{dc}-hub"

    def start_access(self, dc: str) -> None:
        args = ["access", "--dc", dc, "--node", f"{dc}-a1", "--listen",
                f"127.0.0.1:{self.access_ports[dc]}", "--hub", f"127.0.0.1:{self.hub_ports[dc]}"]
        proc = NodeProcess(args, self.tmp / f"{dc}-a1.log")
        self.procs[f"{dc}-a1"] = proc
        assert proc.wait_ready()["listen"] == f"127.0.0.1:{self.access_ports[dc]}"

    def start(self) -> Cluster:
        for dc in self.dcs:
            self.start_hub(dc)
        for dc in self.dcs:
            self.start_access(dc)
        return self

    def stop(self) -> None:
        for proc in self.procs.values():
            proc.kill()

    async def client(self, dc: str, user: str) -> Client:
        """A logged-in client; retries while the access node has no hub link yet."""
        for _ in range(100):
            client = Client("127.0.0.1", self.access_ports[dc], secret=SECRET)
            await client.connect()
            try:
                await client.login(user)
                return client
            except (LoginFailed, ConnectionError):
                await client.close()
                await asyncio.sleep(0.1)
        raise AssertionError(f"{user} could not log into {dc}")


@pytest.fixture
def cluster2(tmp_path: Path) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path, dcs=2)
    try:
        yield cluster.start()
    finally:
        cluster.stop()


async def next_delivery(client: Client, timeout: float = 5.0) -> dict[str, object]:
    return await asyncio.wait_for(client.raw_deliveries.get(), timeout)


async def test_peer_without_secret_is_refused(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, dcs=1)
    try:
        cluster.start_hub("dc1")
        port = cluster.hub_ports["dc1"]
        conn = await open_framed("127.0.0.1", port)
        challenge = await conn.read_frame()
        assert challenge is not None and challenge["type"] == "challenge"
        bad_mac = hello_mac(b"wrong-secret", challenge["nonce"], "hub", "dc2", "dc2-hub")
        conn.write_frame({"type": "hello", "role": "hub", "dc": "dc2", "node": "dc2-hub",
                          "mac": bad_mac})
        refusal = await conn.read_frame()
        assert refusal is not None and refusal["type"] == "error"
        assert refusal["code"] == "unauthorized"
        assert await conn.read_frame() is None  # closed
        conn.close()
        conn = await open_framed("127.0.0.1", port)
        with pytest.raises(HandshakeRefused):
            await client_handshake(conn, b"not-the-secret", "access", "dc1", "dc1-a1")
        conn.close()
        with pytest.raises(ClientError) as refused:
            await AdminClient("127.0.0.1", port, "wrong").status()
        assert refused.value.code == "unauthorized"
        conn = await open_framed("127.0.0.1", port)  # the right secret is accepted
        await client_handshake(conn, SECRET.encode(), "access", "dc1", "dc1-a1")
        conn.close()
    finally:
        cluster.stop()


async def _challenge_and_hello(port: int, replay: dict[str, object] | None = None
                               ) -> tuple[str, dict[str, object], dict[str, object] | None]:
    """Open a connection, read the challenge, answer it with a fresh hello (or `replay`);
    returns (nonce, the hello sent, the server's answer)."""
    conn = await open_framed("127.0.0.1", port)
    try:
        challenge = await conn.read_frame()
        assert challenge is not None and challenge["type"] == "challenge"
        nonce = str(challenge["nonce"])
        hello: dict[str, object] = replay or {
            "type": "hello", "role": "access", "dc": "dc1", "node": "dc1-a1",
            "mac": hello_mac(SECRET.encode(), nonce, "access", "dc1", "dc1-a1")}
        conn.write_frame(hello)
        return nonce, hello, await conn.read_frame()
    finally:
        conn.close()


async def test_handshake_nonces_never_repeat_across_restarts(tmp_path: Path) -> None:
    """Item 5 of issue 9: a restart with the same seed gives a new challenge, so a hello captured
    on an earlier connection (or before the restart) is refused."""
    cluster = Cluster(tmp_path, dcs=1)
    try:
        cluster.start_hub("dc1")
        port = cluster.hub_ports["dc1"]
        first_nonce, captured, answer = await _challenge_and_hello(port)
        assert answer is not None and answer["type"] == "hello_ok"
        _, _, replayed = await _challenge_and_hello(port, replay=captured)
        assert replayed is not None and replayed["code"] == "unauthorized"
        cluster.procs["dc1-hub"].kill()
        cluster.start_hub("dc1")  # the same --seed 7
        nonce, _, replayed = await _challenge_and_hello(port, replay=captured)
        assert nonce != first_nonce
        assert replayed is not None and replayed["code"] == "unauthorized"
    finally:
        cluster.stop()


async def test_malformed_peer_entries_do_not_stop_a_hub(tmp_path: Path) -> None:
    """Item 2 of issue 9: entries with lone surrogates (which SQLite and the wire cannot encode),
    over a real authenticated peer connection, are refused and counted; the hub stays up, its
    anti-entropy goes on, and it still delivers."""
    cluster = Cluster(tmp_path, dcs=2)  # dc2's hub is never started: we speak for it
    try:
        cluster.start_hub("dc1")
        cluster.start_access("dc1")
        port = cluster.hub_ports["dc1"]
        conn = await open_framed("127.0.0.1", port)
        await client_handshake(conn, SECRET.encode(), "hub", "dc2", "dc2-hub")
        frames = [{"type": kind, "entries": bad_entries()} for kind in ("push", "entries")]
        frames.append({"type": "digest", "vv": {SURROGATE: 1, "dc1": "x"}})
        frames.append({"type": "forward", "msg": {"id": SURROGATE, "from": "a", "to": "b",
                                                  "body": ""}})
        for frame in frames:  # ASCII JSON: the surrogates travel as \ud800 escapes
            conn.write_bytes(json.dumps(frame).encode("ascii") + b"\n")
        await conn.drain()
        answer = await asyncio.wait_for(conn.read_frame(), 5)  # the digest's answer
        assert answer is not None and answer["type"] == "entries"
        access = await open_framed("127.0.0.1", port)  # and an access node's frames
        await client_handshake(access, SECRET.encode(), "access", "dc1", "dc1-a9")
        for frame in [*bad_access_frames(), {"type": "sync", "conns": []}]:
            access.write_bytes(json.dumps(frame).encode("ascii") + b"\n")
        await access.drain()
        async with AdminClient("127.0.0.1", port, SECRET) as admin:
            for _ in range(50):  # the access frames came on another connection
                before = (await admin.status())["counters"]
                if before["bad_frames"] >= len(bad_access_frames()):
                    break
                await asyncio.sleep(0.1)
            assert before["bad_frames"] >= len(bad_access_frames())
            assert before["bad_entries"] == 2 * len(bad_entries())
            await asyncio.sleep(1.0)
            after = (await admin.status())["counters"]
        assert after["digests_sent"] >= before["digests_sent"] + 3  # anti-entropy goes on
        assert after["core_errors"] == 0
        conn.close()
        access.close()
        alice = await cluster.client("dc1", "alice")
        bob = await cluster.client("dc1", "bob")
        await alice.send("after-bad-entries", "bob", "still here")
        assert (await next_delivery(bob))["id"] == "after-bad-entries"
        await alice.close()
        await bob.close()
        assert cluster.procs["dc1-hub"].proc.poll() is None
    finally:
        cluster.stop()


def test_missing_secret_exits_2(tmp_path: Path) -> None:
    proc = NodeProcess(["access", "--dc", "dc1", "--node", "dc1-a1", "--listen",
                        f"127.0.0.1:{free_port()}", "--hub", "127.0.0.1:1"],
                       tmp_path / "a.log", secret=None)
    try:
        assert proc.proc.wait(timeout=15) == 2
        assert "IMCLUSTER_SECRET" in (tmp_path / "a.log").read_text()
    finally:
        proc.kill()


async def test_cross_dc_and_offline_delivery(cluster2: Cluster) -> None:
    alice = await cluster2.client("dc1", "alice")
    bob = await cluster2.client("dc2", "bob")
    await asyncio.sleep(0.5)  # coordinates gossip to the other DC
    assert (await alice.send("m1", "bob", "hello bob"))["type"] == "send_ok"
    got = await next_delivery(bob)
    assert (got["id"], got["from"], got["to"], got["body"]) == ("m1", "alice", "bob", "hello bob")
    # the gateway's forward goes out before the eager push, on the same ordered link
    assert got["via"] == "online" and got["dc"] == "dc2"
    await alice.send("m2", "carol", "for later")  # carol is offline everywhere
    await asyncio.sleep(0.5)
    carol = await cluster2.client("dc2", "carol")
    got = await next_delivery(carol)
    assert (got["id"], got["via"], got["from"]) == ("m2", "offline", "alice")
    for client in (alice, bob, carol):
        await client.close()
    async with AdminClient("127.0.0.1", cluster2.hub_ports["dc1"], SECRET) as admin:
        status = await admin.status()
        assert status["role"] == "hub" and status["health"] == "ok"
        assert status["counters"]["wan_frames_sent"] > 0
        assert status["counters"]["wan_bytes_sent"] > status["counters"]["wan_frames_sent"]
        assert (await admin.set_clock(2500))["clock_offset_ms"] == 2500
        assert (await admin.status())["clock_offset_ms"] == 2500
    async with AdminClient("127.0.0.1", cluster2.access_ports["dc2"], SECRET) as admin:
        status = await admin.status()
        assert status["role"] == "access" and status["hub_connected"] is True
    events = [json.loads(line) for line in
              (cluster2.tmp / "dc2-events.jsonl").read_text().splitlines()]
    applied = {(e["kind"], e["key"]) for e in events if e["event"] == "apply"}
    assert ("msg", "m2") in applied and ("coord", "alice") in applied
    assert all(e["dc"] == "dc2" and e["node"] == "dc2-hub" and e["ts_ns"] > 0 for e in events)


@pytest.mark.parametrize("bug, delivered", [(None, True), ("volatile-store", False),
                                           ("ack-before-persist", False)])
async def test_hub_sigkill_after_send_ok(tmp_path: Path, bug: str | None,
                                         delivered: bool) -> None:
    cluster = Cluster(tmp_path, dcs=1, hub_args=("--bug", bug) if bug else ())
    try:
        cluster.start()
        alice = await cluster.client("dc1", "alice")
        await alice.send("crash-1", "bob", "survive me")
        cluster.procs["dc1-hub"].kill()  # right after send_ok
        await alice.close()
        cluster.start_hub("dc1")
        bob = await cluster.client("dc1", "bob")
        if delivered:
            got = await next_delivery(bob)
            assert (got["id"], got["via"]) == ("crash-1", "offline")
        else:
            with pytest.raises(asyncio.TimeoutError):
                await next_delivery(bob, timeout=2.0)
        await bob.close()
    finally:
        cluster.stop()


async def test_a_logout_while_the_hub_is_down_takes_the_user_offline_after_its_restart(
        tmp_path: Path) -> None:
    """The restarted hub restores alice's coordinate ("online at dc1-a1") from SQLite; the
    access node's `sync` on reconnecting no longer lists her session, so the coordinate goes
    offline in both DCs (before the fix it stayed online for ever)."""
    cluster = Cluster(tmp_path, dcs=2)
    try:
        cluster.start()
        alice = await cluster.client("dc1", "alice")

        async def alice_online() -> dict[str, bool]:
            seen = {}
            for dc in cluster.dcs:
                async with AdminClient("127.0.0.1", cluster.hub_ports[dc], SECRET) as admin:
                    seen[dc] = (await admin.status())["coords"].get("alice", {}).get("online")
            return seen

        for _ in range(50):
            if await alice_online() == {"dc1": True, "dc2": True}:
                break
            await asyncio.sleep(0.1)
        assert await alice_online() == {"dc1": True, "dc2": True}
        cluster.procs["dc1-hub"].kill()
        await alice.close()  # her session ends while dc1's hub is down
        await asyncio.sleep(0.3)
        cluster.start_hub("dc1")
        for _ in range(100):
            if await alice_online() == {"dc1": False, "dc2": False}:
                break
            await asyncio.sleep(0.1)
        assert await alice_online() == {"dc1": False, "dc2": False}
    finally:
        cluster.stop()


async def test_sigterm_exits_cleanly(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, dcs=1)
    try:
        cluster.start()
        for name in ("dc1-a1", "dc1-hub"):
            proc = cluster.procs[name].proc
            os.kill(proc.pid, signal.SIGTERM)
            assert proc.wait(timeout=10) == 0
    finally:
        cluster.stop()
