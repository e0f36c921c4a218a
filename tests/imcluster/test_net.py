"""Tests of `imcluster._net` on loopback: handshake, reconnect with backoff, a blackholed peer
(open connection, bytes vanish) detected by the request timeout without blocking another link,
bounded send queues that drop instead of blocking, and invalid frames closing a link."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from imcluster import _net
from imcluster._net import (
    BACKOFF_MAX_S,
    BACKOFF_MIN_S,
    FramedConnection,
    FrameSender,
    Link,
    SendCounters,
    client_handshake,
    server_handshake,
)

SECRET = b"net-secret"
Behaviour = Callable[[FramedConnection], Awaitable[None]]


class PeerServer:
    """A real TCP server doing the real handshake, then `behaviour` on each connection."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.accepted = 0
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, port: int = 0) -> PeerServer:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", port)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = FramedConnection(reader, writer)
        if await server_handshake(conn, SECRET) is None:
            return
        self.accepted += 1
        try:
            await self.behaviour(conn)
        finally:
            conn.close()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


async def echo(conn: FramedConnection) -> None:
    """Answers every `digest` with `entries` (a healthy peer)."""
    while (frame := await conn.read_frame()) is not None:
        if frame["type"] == "digest":
            conn.write_frame({"type": "entries", "entries": [], "n": frame.get("n")})


async def blackhole(conn: FramedConnection) -> None:
    """Reads and discards everything and never answers: the connection stays open."""
    while await conn.reader.read(65536):
        pass


class Recorder:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.ups = 0
        self.downs = 0

    def link(self, port: int, *, timeout: float = 0.3, seed: int = 1) -> Link:
        return Link("test", "127.0.0.1", port, secret=SECRET, role="hub", dc="dc1",
                    node="dc1-hub", rng=random.Random(seed), on_up=self._up,
                    on_frame=self.frames.append, on_down=self._down, timeout=timeout,
                    requests=frozenset({"digest"}))

    def _up(self) -> None:
        self.ups += 1

    def _down(self) -> None:
        self.downs += 1


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


def test_backoff_is_bounded_jittered_and_seeded() -> None:
    first = Recorder().link(1, seed=5)
    again = Recorder().link(1, seed=5)
    delays = [first._backoff(n) for n in range(12)]
    assert delays == [again._backoff(n) for n in range(12)]
    assert all(BACKOFF_MIN_S / 2 <= d <= BACKOFF_MAX_S for d in delays)
    assert delays[0] <= BACKOFF_MIN_S and delays[-1] >= BACKOFF_MAX_S / 2
    assert len(set(delays)) == len(delays)  # jittered


async def answer_once_then_close(conn: FramedConnection) -> None:
    frame = await conn.read_frame()
    if frame is not None:
        conn.write_frame({"type": "entries", "entries": [], "n": frame.get("n")})
        await conn.drain()


async def test_link_reconnects_when_the_peer_appears_and_after_a_drop() -> None:
    probe = await PeerServer(echo).start()
    port = probe.port
    await probe.stop()
    recorder = Recorder()
    link = recorder.link(port)
    link.start()
    await asyncio.sleep(0.3)  # nobody listens: it keeps retrying
    assert recorder.ups == 0 and not link.up
    assert link.send({"type": "digest"}) is False
    server = await PeerServer(answer_once_then_close).start(port)
    try:
        await wait_for(lambda: link.up)
        assert link.send({"type": "digest", "n": 1})
        await wait_for(lambda: any(f.get("n") == 1 for f in recorder.frames))
        await wait_for(lambda: recorder.downs == 1)  # the server closed it
        await wait_for(lambda: recorder.ups == 2 and link.up)  # and it came back
        assert server.accepted == 2
    finally:
        await link.stop()
        await server.stop()


async def test_blackholed_peer_is_dropped_and_does_not_block_other_links() -> None:
    healthy, hole = await PeerServer(echo).start(), await PeerServer(blackhole).start()
    good_rec, bad_rec = Recorder(), Recorder()
    good, bad = good_rec.link(healthy.port), bad_rec.link(hole.port)
    good.start()
    bad.start()
    try:
        await wait_for(lambda: good.up and bad.up)
        loop = asyncio.get_running_loop()
        started = loop.time()
        n = 0
        while loop.time() - started < 1.2:  # 100 ms gossip rounds to both peers
            n += 1
            good.send({"type": "digest", "n": n})
            bad.send({"type": "digest", "n": n})
            await asyncio.sleep(0.1)
        await wait_for(lambda: any(f.get("n") == n for f in good_rec.frames), 1.0)
        assert len(good_rec.frames) == n  # the healthy peer answered every round
        assert good.hang_closes == 0 and good_rec.downs == 0
        assert bad.hang_closes >= 2  # closed after 0.3 s without an answer, reopened, again...
        assert hole.accepted >= 3
        assert bad_rec.frames == []
    finally:
        await good.stop()
        await bad.stop()
        await healthy.stop()
        await hole.stop()


async def test_full_send_queue_drops_instead_of_blocking() -> None:
    stalled = asyncio.Event()

    async def never_reads(conn: FramedConnection) -> None:
        await stalled.wait()

    server = await PeerServer(never_reads).start()
    recorder = Recorder()
    link = recorder.link(server.port, timeout=30)
    link.start()
    try:
        await wait_for(lambda: link.up)
        assert link.sender is not None
        link.sender.max_bytes = 1024 * 1024
        big = {"type": "push", "entries": ["x" * 60_000]}
        loop = asyncio.get_running_loop()
        started = loop.time()
        results = []
        for _ in range(400):  # 24 MB at a peer that reads nothing
            results.append(link.send(big))
            await asyncio.sleep(0)
        assert loop.time() - started < 2.0  # never blocked
        assert results.count(False) > 0 and link.counters.frames_dropped > 0
        assert link.counters.frames_sent > 0
    finally:
        stalled.set()
        await link.stop()
        await server.stop()


async def test_invalid_frame_closes_an_inter_node_link() -> None:
    async def torn(conn: FramedConnection) -> None:
        conn.write_bytes(b'{"type":"entr\n')  # a torn line, as a healed blackhole may deliver
        await asyncio.sleep(5)

    server = await PeerServer(torn).start()
    recorder = Recorder()
    link = recorder.link(server.port, timeout=30)
    link.start()
    try:
        await wait_for(lambda: recorder.downs >= 1 and server.accepted >= 2)
        assert recorder.frames == []
    finally:
        await link.stop()
        await server.stop()


async def test_frame_sender_counts_bytes() -> None:
    received: list[dict[str, Any]] = []

    async def collect(conn: FramedConnection) -> None:
        while (frame := await conn.read_frame()) is not None:
            received.append(frame)

    server = await PeerServer(collect).start()
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    conn = FramedConnection(reader, writer)
    await client_handshake(conn, SECRET, "hub", "dc2", "dc2-hub")
    counters = SendCounters()
    sender = FrameSender(conn, counters)
    for i in range(10):
        assert sender.send({"type": "push", "i": i})
    await wait_for(lambda: len(received) == 10)
    assert [f["i"] for f in received] == list(range(10))
    assert counters.frames_sent == 10
    assert counters.bytes_sent == sum(len(f'{{"type":"push","i":{i}}}\n') for i in range(10))
    sender.stop()
    conn.close()
    await server.stop()


async def test_slow_answer_that_keeps_arriving_is_not_a_hang() -> None:
    async def trickle(conn: FramedConnection) -> None:
        """Answers a digest with a 20 KB frame at ~20 KB/s, like a bandwidth-capped WAN link."""
        frame = await conn.read_frame()
        assert frame is not None
        data = b'{"type":"entries","entries":[],"pad":"' + b"x" * 20_000 + b'"}\n'
        for start in range(0, len(data), 1000):
            conn.write_bytes(data[start:start + 1000])
            await asyncio.sleep(0.05)
        await asyncio.sleep(5)

    server = await PeerServer(trickle).start()
    recorder = Recorder()
    link = recorder.link(server.port, timeout=0.3)  # the whole answer takes ~1 s
    link.start()
    try:
        await wait_for(lambda: link.up)
        link.send({"type": "digest"})
        await wait_for(lambda: len(recorder.frames) == 1, 5.0)
        assert link.hang_closes == 0 and recorder.downs == 0
        assert len(recorder.frames[0]["pad"]) == 20_000
    finally:
        await link.stop()
        await server.stop()


async def test_stop_ends_a_link_whose_connect_swallowed_the_cancellation(
        monkeypatch: Any) -> None:
    """Python 3.11's `asyncio.wait_for` may swallow a cancellation that lands as its inner await
    completes; a reconnecting link's `stop()` then waited for ever (seen as a node that logged
    "stopping" but never exited, and a 300 s test timeout)."""
    import imcluster._net as net

    async def swallowing_connect(*args: Any, **kwargs: Any) -> Any:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # as wait_for does when the connect completed in the same loop iteration
        raise OSError("connect failed")

    monkeypatch.setattr(net, "open_framed", swallowing_connect)
    link = Recorder().link(1)
    link.start()
    await asyncio.sleep(0.05)
    await asyncio.wait_for(link.stop(), 5)
async def test_stop_ends_the_link_at_any_moment_of_its_connect_and_handshake() -> None:
    """`stop` right after `start` (a SIGTERM as a node comes up) must end the link whatever step
    of connect/handshake it hits: on Python 3.11 `asyncio.wait_for` drops a cancel that lands as
    its inner await completes, and the link then served its connection for ever."""
    server = await PeerServer(echo).start()
    hung: list[int] = []
    try:
        for steps in range(80):
            link = Recorder().link(server.port)
            link.start()
            for _ in range(steps):
                await asyncio.sleep(0)
            stopping = asyncio.ensure_future(link.stop())
            done, _ = await asyncio.wait([stopping], timeout=2.0)
            if not done:
                hung.append(steps)
                assert link._task is not None
                while not link._task.done():  # clean up what the old code left running
                    link._task.cancel()
                    await asyncio.wait([link._task], timeout=0.1)
                await stopping
            assert link._task is not None and link._task.done()
            assert not link.up
    finally:
        await server.stop()
    assert hung == []


class HealingHole:
    """Toxiproxy's `timeout` toxic (timeout 0) seen from the link: while cut, connections are
    accepted and then hear nothing (the challenge vanishes); `heal()` closes every one of them
    (Toxiproxy closes a proxy's connections when it removes that toxic) and later connections
    get the real handshake and an echo."""

    def __init__(self) -> None:
        self.cut = True
        self.held: list[asyncio.StreamWriter] = []
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> HealingHole:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            self.held.append(writer)
            return
        conn = FramedConnection(reader, writer)
        if await server_handshake(conn, SECRET) is not None:
            try:
                await echo(conn)
            finally:
                conn.close()

    def heal(self) -> None:
        self.cut = False
        for writer in self.held:
            writer.close()
        self.held.clear()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()


async def test_a_link_is_up_again_at_once_when_a_blackhole_heals() -> None:
    """Handshakes lost in a blackhole time out without growing the back-off: the link always
    has an attempt open, and the heal (which closes it) is followed by a new one at once. Before,
    each timed-out attempt doubled the back-off, so a heal found the link asleep for up to 2 s."""
    hole = await HealingHole().start()
    recorder = Recorder()
    link = recorder.link(hole.port, timeout=0.3)
    link.greeting = lambda: [{"type": "digest", "n": "greeting"}]
    link.start()
    try:
        await asyncio.sleep(3.5)  # ~10 handshakes time out in the cut
        assert not link.up and link.connect_failures >= 5
        loop = asyncio.get_running_loop()
        healed_at = loop.time()
        hole.heal()
        await wait_for(lambda: link.up, 3.0)
        assert loop.time() - healed_at < 0.3, f"up {loop.time() - healed_at:.2f} s after the heal"
        # the greeting went out behind the hello: its answer comes without another request
        await wait_for(lambda: any(f.get("n") == "greeting" for f in recorder.frames), 1.0)
        assert link.counters.frames_sent >= 1
    finally:
        await link.stop()
        await hole.stop()


async def test_the_attempt_a_heal_closes_is_followed_by_a_new_one_without_back_off(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The heal closes the attempt the link has open in the blackhole; the next one starts at
    once, not after a back-off (it was the minimum back-off, 25-50 ms, on every heal; made 1 s
    here so that any back-off shows)."""
    monkeypatch.setattr(_net, "BACKOFF_MIN_S", 1.0)
    hole = await HealingHole().start()
    link = Recorder().link(hole.port, timeout=0.2)
    link.start()
    try:
        await wait_for(lambda: link.connect_failures >= 2, 5.0)  # timed out in the cut
        held = len(hole.held)
        await wait_for(lambda: len(hole.held) > held, 5.0)  # the next attempt is in the hole
        loop = asyncio.get_running_loop()
        healed_at = loop.time()
        hole.heal()
        await wait_for(lambda: link.up, 3.0)
        assert loop.time() - healed_at < 0.4, f"up {loop.time() - healed_at:.2f} s after the heal"
    finally:
        await link.stop()
        await hole.stop()


async def test_a_busy_peer_heard_on_its_own_connection_is_not_a_hang() -> None:
    """A hub applying a backlog after a heal answers our digest late, but its own connection to
    us (`heard`) still brings bytes: the link waits `BUSY_PEER_GRACE` timeouts, not one (closing
    it dropped what was queued on it and made the busy peer redo a handshake); heard from
    nowhere, it is closed after one timeout as before."""
    hole = await PeerServer(blackhole).start()
    rec = Recorder()
    link = rec.link(hole.port, timeout=0.3)
    link.heard = time.monotonic  # the peer's own connection delivers all the time
    link.start()
    try:
        await wait_for(lambda: link.up)
        loop = asyncio.get_running_loop()
        first = loop.time()
        for n in range(7):  # 0.7 s of digests unanswered (timeout 0.3 s, grace 0.9 s)
            assert link.send({"type": "digest", "n": n})
            await asyncio.sleep(0.1)
        if loop.time() - first < 0.8:  # (a starved loop may have slept past the grace)
            assert link.hang_closes == 0 and rec.downs == 0
        await wait_for(lambda: link.hang_closes == 1, 3.0)  # not for ever (a one-way cut)
        # up again: a new connection (`link.up` still reads True while the old one closes)
        await wait_for(lambda: rec.ups == 2 and link.up)
        link.heard = lambda: 0.0  # silent everywhere: a hang (after one timeout)
        assert link.send({"type": "digest"})
        await wait_for(lambda: link.hang_closes == 2, 3.0)
    finally:
        await link.stop()
        await hole.stop()


async def test_frames_of_held_types_sent_while_down_go_behind_the_next_hello() -> None:
    """A hub's pushes of the login burst at start-up, sent while its link still connects, were
    dropped and waited for an anti-entropy round trip after the handshake; frames of a `hold`
    type are kept until the link is first up and written right behind its first hello."""
    got: list[dict[str, Any]] = []

    async def record(conn: FramedConnection) -> None:
        while (frame := await conn.read_frame()) is not None:
            got.append(frame)

    probe = await PeerServer(record).start()
    port = probe.port
    await probe.stop()
    rec = Recorder()
    link = rec.link(port)
    link.hold = frozenset({"push"})
    link.start()
    try:
        assert link.send({"type": "push", "n": 1}) and link.send({"type": "push", "n": 2})
        assert link.send({"type": "digest"}) is False  # not a held type: dropped
        server = await PeerServer(record).start(port)
        # the held frames are written inside the handshake; the link counts them once the
        # handshake has returned, which may be after the server has read them
        await wait_for(lambda: len(got) == 2 and link.connects == 1)
        assert [f["n"] for f in got] == [1, 2] and link.counters.frames_sent == 2
        link.send({"type": "push", "n": 3})
        await wait_for(lambda: len(got) == 3)
        await server.stop()
        link.sender.conn.close()  # type: ignore[union-attr]
        await wait_for(lambda: not link.up)
        # once it has been up, a down link drops as before: held through a partition, stale
        # pushes reached the healed DC ahead of its repair batches, a commit each
        assert link.send({"type": "push", "n": 4}) is False
    finally:
        await link.stop()
