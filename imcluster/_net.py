"""Asyncio plumbing shared by the node drivers: framed connections, the authenticated handshake,
bounded send queues and reconnecting links.

- `FramedConnection`: NDJSON frames over a stream (`_wire` codec; 64 KiB for clients, 4 MiB between
  nodes).
- Handshake (docs/architecture.md): the server sends `challenge {nonce}`, the client answers
  `hello {role, dc, node, mac}`; a wrong MAC gets `error {code: "unauthorized"}` and the connection is
  closed. An admin client may speak first with `admin_hello` (access nodes need it to tell an admin
  from a user on their single port); the hub skips it.
- `FrameSender`: a bounded queue drained by one writer task, so a slow or hung peer never blocks the
  caller; frames are dropped (and counted) when the queue is full.
- `Link`: an outgoing connection that reconnects with jittered exponential backoff (50 ms .. 2 s,
  seeded rng), and closes itself when a request (digest/forward/...) has gone unanswered and nothing
  was heard for `timeout` seconds (a blackholed link stays open while bytes vanish).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from . import _auth, _wire

Frame = dict[str, Any]
log = logging.getLogger("imcluster.net")

HANDSHAKE_TIMEOUT_S = 1.5
BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 2.0
HOLD_FRAMES = 256  # frames of the `hold` types a down link keeps for its next connection
BUSY_PEER_GRACE = 3.0  # a link whose peer is heard elsewhere waits this many timeouts (`Link`)
ADMIN_HELLO = "admin_hello"


class FrameError(Exception):
    """A frame could not be read: `code` is the wire error code (bad_frame, frame_too_large...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class FramedConnection:
    """One stream carrying NDJSON frames of at most `max_frame` bytes a line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 max_frame: int = _wire.MAX_PEER_FRAME) -> None:
        self.reader = reader
        self.writer = writer
        self._decoder = _wire.LineDecoder(max_frame)
        self._lines: deque[Any] = deque()
        self.closed = False
        self.last_read = time.monotonic()  # when bytes last arrived (progress, even mid-frame)

    @property
    def peername(self) -> str:
        peer = self.writer.get_extra_info("peername")
        return f"{peer[0]}:{peer[1]}" if peer else "?"

    def push_back(self, data: bytes) -> None:
        """Feed bytes already read from the stream (by a caller that peeked) to the decoder."""
        self._lines.extend(self._decoder.feed(data))

    async def read_frame(self) -> Frame | None:
        """The next frame; None at end of stream; raises `FrameError` on a malformed frame."""
        while not self._lines:
            try:
                data = await self.reader.read(65536)
            except (ConnectionError, OSError):
                return None
            if not data:
                return None
            self.last_read = time.monotonic()
            self._lines.extend(self._decoder.feed(data))
        line = self._lines.popleft()
        if not isinstance(line, (bytes, bytearray)):
            raise FrameError("frame_too_large", "frame exceeds the maximum line length")
        try:
            return _wire.parse_frame(bytes(line))
        except _wire.WireError as exc:
            raise FrameError(getattr(exc, "code", "bad_frame"), str(exc)) from None

    def write_frame(self, frame: Frame) -> int:
        """Write one frame without waiting; returns its encoded size."""
        data = _wire.encode(frame)
        self.write_bytes(data)
        return len(data)

    def write_bytes(self, data: bytes) -> None:
        if not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self) -> None:
        await self.writer.drain()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                self.writer.close()


async def open_framed(host: str, port: int, max_frame: int = _wire.MAX_PEER_FRAME,
                      timeout: float = HANDSHAKE_TIMEOUT_S) -> FramedConnection:
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(host, port, limit=max_frame + 1024), timeout)
    return FramedConnection(reader, writer, max_frame)


# ---------------------------------------------------------------- handshake


@dataclass(frozen=True)
class Hello:
    """Who authenticated on a connection."""

    role: str
    dc: str
    node: str


async def server_handshake(conn: FramedConnection, secret: bytes,
                           timeout: float = HANDSHAKE_TIMEOUT_S) -> Hello | None:
    """Challenge the connecting side; returns its `Hello`, or None after refusing and closing.
    The nonce comes from `secrets`, not from the seeded rng: no two challenges repeat, even
    across restarts with the same seed."""
    nonce = _auth.new_nonce(secrets.token_bytes(_auth.NONCE_BYTES))
    conn.write_frame({"type": "challenge", "nonce": nonce})
    try:
        frame = await asyncio.wait_for(conn.read_frame(), timeout)
        while frame is not None and frame.get("type") == ADMIN_HELLO:
            frame = await asyncio.wait_for(conn.read_frame(), timeout)
    except (TimeoutError, FrameError):
        frame = None
    if frame is not None and frame.get("type") == "hello":
        role, dc, node = frame.get("role"), frame.get("dc"), frame.get("node")
        if (isinstance(role, str) and isinstance(dc, str) and isinstance(node, str)
                and _auth.check_hello(secret, nonce, role, dc, node, frame.get("mac"))):
            conn.write_frame({"type": "hello_ok"})
            return Hello(role, dc, node)
    conn.write_frame({"type": "error", "code": "unauthorized",
                      "message": "handshake failed: bad or missing hello"})
    with contextlib.suppress(Exception):
        await asyncio.wait_for(conn.drain(), 0.5)
    conn.close()
    return None


class HandshakeRefused(Exception):
    """The server did not accept our hello."""


async def client_handshake(conn: FramedConnection, secret: bytes, role: str, dc: str, node: str,
                           timeout: float = HANDSHAKE_TIMEOUT_S,
                           then: Callable[[], list[Frame]] | None = None) -> int:
    """Answer the server's challenge; raises `HandshakeRefused` or `asyncio.TimeoutError`.
    `then()` gives frames written right behind the hello, before the server's answer (the server
    reads them once it accepted the hello): they arrive one round trip earlier than frames sent
    after the handshake. Returns how many bytes of such frames were written."""
    written = 0

    async def run() -> None:
        nonlocal written
        challenge = await conn.read_frame()
        if not challenge or challenge.get("type") != "challenge" or not isinstance(
                challenge.get("nonce"), str):
            raise HandshakeRefused(f"expected a challenge, got {challenge!r}")
        mac = _auth.hello_mac(secret, challenge["nonce"], role, dc, node)
        conn.write_frame({"type": "hello", "role": role, "dc": dc, "node": node, "mac": mac})
        for frame in then() if then is not None else ():
            written += conn.write_frame(frame)
        answer = await conn.read_frame()
        if not answer or answer.get("type") != "hello_ok":
            raise HandshakeRefused(f"hello refused: {answer!r}")
    try:
        await asyncio.wait_for(run(), timeout)
    except FrameError as exc:
        raise HandshakeRefused(str(exc)) from None
    return written


# ---------------------------------------------------------------- bounded sending


@dataclass
class SendCounters:
    frames_sent: int = 0
    bytes_sent: int = 0
    frames_dropped: int = 0
    # frame type -> [frames, bytes] queued for sending (what the WAN carries, by kind)
    by_kind: dict[str, list[int]] = field(default_factory=dict)

    def count_kind(self, frame: Frame, size: int) -> None:
        kind = self.by_kind.get(frame.get("type", "?"))
        if kind is None:
            kind = self.by_kind[str(frame.get("type", "?"))] = [0, 0]
        kind[0] += 1
        kind[1] += size


class FrameSender:
    """A bounded queue of encoded frames written by one task; `send` never blocks."""

    def __init__(self, conn: FramedConnection, counters: SendCounters,
                 max_frames: int = 4096, max_bytes: int = 16 * 1024 * 1024) -> None:
        self.conn = conn
        self.counters = counters
        self.max_frames = max_frames
        self.max_bytes = max_bytes
        self._queue: deque[bytes] = deque()
        self._queued_bytes = 0
        self._wakeup = asyncio.Event()
        self.counters_written = 0
        self.task = asyncio.ensure_future(self._run())

    def send(self, frame: Frame) -> bool:
        data = _wire.encode(frame)
        if (len(self._queue) >= self.max_frames
                or self._queued_bytes + len(data) > self.max_bytes or self.conn.closed):
            self.counters.frames_dropped += 1
            return False
        self._queue.append(data)
        self._queued_bytes += len(data)
        self.counters.count_kind(frame, len(data))
        self._wakeup.set()
        return True

    async def _run(self) -> None:
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._queue:
                    chunk: list[bytes] = []
                    while self._queue and len(chunk) < 256:
                        chunk.append(self._queue.popleft())
                    data = b"".join(chunk)
                    self._queued_bytes -= len(data)
                    self.conn.write_bytes(data)
                    self.counters_written += len(data)
                    self.counters.frames_sent += len(chunk)
                    self.counters.bytes_sent += len(data)
                    await self.conn.drain()
        except (ConnectionError, OSError):
            self.conn.close()

    def flushed_bytes(self) -> int:
        """Bytes that left the transport (handed to the kernel) so far."""
        transport = self.conn.writer.transport
        return self.counters_written - transport.get_write_buffer_size()

    def backlog(self) -> int:
        """Bytes queued here or buffered in the transport, not yet handed to the kernel."""
        return self._queued_bytes + self.conn.writer.transport.get_write_buffer_size()

    def stop(self) -> None:
        self.task.cancel()


# ---------------------------------------------------------------- reconnecting link


class Link:
    """An outgoing authenticated link that keeps reconnecting until `stop`.

    `on_up()` runs after each successful handshake, `on_frame(frame)` for each frame received,
    `on_down()` when an up link drops. A frame whose type is in `requests` starts the hang timer;
    any frame heard settles it (the other side is alive). When a request waits and nothing moves
    for `timeout` seconds (see `_watch`) the link is closed and reopened. Requests are not matched
    to replies one by one (a digest has no id), so a request lost to a short blackhole cannot
    leave the link looking busy for ever.
    An invalid frame from the other side closes the link too (e.g. a torn line after a blackhole).
    `greeting()` gives frames to pipeline behind the handshake's hello (see `client_handshake`).
    Frames of the types in `hold` sent before the link was first up are kept (the last
    `HOLD_FRAMES`) and written right behind the first hello, after the greeting: a hub's eager
    pushes of the login burst at start-up, while its links still connect, arrive with the
    handshake instead of an anti-entropy round trip after it. Only before the first connection:
    held through a partition, up to 256 small pushes per peer reached a healed DC ahead of the
    repair batches, each a durable commit there, and slowed its repair several-fold.
    `heard()` gives when bytes last came from the other side by another way (a hub's peer also
    connects to it): a peer heard there within `timeout` is alive, most likely busy (a hub
    applying a backlog after a heal answers late), so its link is given `BUSY_PEER_GRACE` times
    the timeout (closing it drops what is queued on it and costs a reconnect, more work for the
    busy peer); not for ever, since a one-way cut also leaves the other way alive.

    Reconnecting: a refused or closed attempt backs off exponentially (`_backoff`); an attempt
    that timed out (its handshake vanished in a blackhole) is retried at once, the timeout
    having paced it. So a link cut by a blackhole always has an attempt in progress, and when the
    cut heals (Toxiproxy closes the connections of a proxy whose `timeout` toxic it removes) the
    next attempt starts at once: an attempt closed or refused right after one that timed out is
    retried without a back-off, once (a peer that refuses every attempt still backs off).
    """

    def __init__(self, name: str, host: str, port: int, *, secret: bytes, role: str, dc: str,
                 node: str, rng: random.Random, on_up: Callable[[], None],
                 on_frame: Callable[[Frame], None], on_down: Callable[[], None],
                 counters: SendCounters | None = None, timeout: float = 1.5,
                 requests: frozenset[str] = frozenset(),
                 max_frame: int = _wire.MAX_PEER_FRAME,
                 greeting: Callable[[], list[Frame]] | None = None,
                 heard: Callable[[], float] | None = None,
                 hold: frozenset[str] = frozenset()) -> None:
        self.name, self.host, self.port = name, host, port
        self.secret, self.role, self.dc, self.node = secret, role, dc, node
        self.rng = rng
        self.on_up, self.on_frame, self.on_down = on_up, on_frame, on_down
        self.counters = counters or SendCounters()
        self.timeout = timeout
        self.requests = requests
        self.max_frame = max_frame
        self.greeting = greeting
        self.heard = heard
        self.hold = hold
        self._held: deque[Frame] = deque(maxlen=HOLD_FRAMES)
        self._greeted: list[Frame] = []
        self.sender: FrameSender | None = None
        self.waiting_since: float | None = None
        self.connects = 0
        self.connect_failures = 0
        self.hang_closes = 0
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    @property
    def up(self) -> bool:
        return self.sender is not None and not self.sender.conn.closed

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """End the link for good. One cancel may be lost: on Python 3.11 `asyncio.wait_for`
        returns its inner result when a cancel lands just as the inner await completes (a stop
        during connect or handshake), so the task is cancelled until it is done, and `_run` ends
        by itself at its next step once `_stopped` is set."""
        self._stopped = True
        task = self._task
        if task is None:
            return
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=0.1)
        with contextlib.suppress(asyncio.CancelledError, Exception):
            task.result()

    def send(self, frame: Frame) -> bool:
        """Queue `frame`; False (dropped) if the link is down or its queue is full. A frame of a
        type in `hold` is kept while the link has not been up yet (the last `HOLD_FRAMES`) and
        written behind the first handshake's hello."""
        if not self.up:
            if frame.get("type") in self.hold and self.connects == 0:
                if len(self._held) == self._held.maxlen:
                    self.counters.frames_dropped += 1  # the oldest held frame
                self._held.append(frame)
                return True
            self.counters.frames_dropped += 1
            return False
        assert self.sender is not None
        ok = self.sender.send(frame)
        if ok and frame.get("type") in self.requests and self.waiting_since is None:
            self.waiting_since = time.monotonic()
        return ok

    def _backoff(self, attempt: int) -> float:
        delay = min(BACKOFF_MAX_S, BACKOFF_MIN_S * (2 ** min(attempt, 16)))
        return delay * (0.5 + 0.5 * self.rng.random())

    async def _run(self) -> None:
        attempt = 0
        timed_out = False  # the last attempt's handshake vanished (a blackhole)
        while not self._stopped:
            conn: FramedConnection | None = None
            self._greeted = []
            try:
                conn = await open_framed(self.host, self.port, self.max_frame, self.timeout)
                greeted_bytes = await client_handshake(
                    conn, self.secret, self.role, self.dc, self.node, self.timeout,
                    then=self._greet if self.greeting is not None or self._held else None)
            except (TimeoutError, OSError, HandshakeRefused, ConnectionError) as exc:
                log.debug("link %s: connect failed: %r", self.name, exc)
                self.connect_failures += 1
                if conn:
                    conn.close()
                if isinstance(exc, TimeoutError):  # paced by the timeout: try again at once
                    timed_out = True
                    await asyncio.sleep(self._backoff(0))
                    continue
                if timed_out:
                    # an attempt into a blackhole was cut short: the path changed, most likely
                    # a healed cut (Toxiproxy closes the connections it held when the cut's
                    # toxic goes): dial again at once, once
                    timed_out = False
                    continue
                await asyncio.sleep(self._backoff(attempt))
                attempt += 1
                continue
            timed_out = False
            if self._stopped:
                conn.close()
                return
            attempt = 0
            self.connects += 1
            self._held.clear()  # written behind the hello (kept if the handshake failed)
            self.counters.frames_sent += len(self._greeted)
            self.counters.bytes_sent += greeted_bytes
            for frame in self._greeted:
                self.counters.count_kind(frame, len(_wire.encode(frame)))
            await self._serve(conn)
            await asyncio.sleep(self._backoff(attempt))
            attempt += 1

    def _greet(self) -> list[Frame]:
        self._greeted = [*(self.greeting() if self.greeting is not None else ()), *self._held]
        return self._greeted

    async def _serve(self, conn: FramedConnection) -> None:
        greeted_request = any(frame.get("type") in self.requests for frame in self._greeted)
        self.waiting_since = time.monotonic() if greeted_request else None
        self.sender = FrameSender(conn, self.counters)
        reader = asyncio.ensure_future(self._read(conn))
        watchdog = asyncio.ensure_future(self._watch(conn))
        try:
            self.on_up()
            await asyncio.wait([reader, watchdog, self.sender.task],
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (reader, watchdog):
                task.cancel()
            self.sender.stop()
            conn.close()
            self.sender = None
            self.on_down()

    async def _read(self, conn: FramedConnection) -> None:
        while True:
            try:
                frame = await conn.read_frame()
            except FrameError as exc:
                log.warning("link %s: invalid frame (%s), closing", self.name, exc.code)
                return
            if frame is None:
                return
            self.waiting_since = None
            self.on_frame(frame)

    async def _watch(self, conn: FramedConnection) -> None:
        """Close the link when a request waits and nothing moves: no byte arrives and none of
        our backlog drains (a blackhole swallows what we send, so our side stays empty; a
        bandwidth cap keeps a backlog that drains slowly, which is progress, not a hang)."""
        sender = self.sender
        assert sender is not None
        flushed, outgoing_progress = sender.flushed_bytes(), time.monotonic()
        while True:
            await asyncio.sleep(min(0.1, self.timeout / 4))
            now = time.monotonic()
            now_flushed = sender.flushed_bytes()
            if now_flushed > flushed and sender.backlog() > 0:
                outgoing_progress = now
            flushed = now_flushed
            since = self.waiting_since
            if since is None:
                continue
            heard = max(since, conn.last_read, outgoing_progress)
            limit = self.timeout
            if self.heard is not None and now - self.heard() <= self.timeout:
                limit = self.timeout * BUSY_PEER_GRACE  # alive elsewhere: busy, or a one-way cut
            if now - heard > limit:
                self.hang_closes += 1
                log.info("link %s: no answer for %.1f s, reconnecting", self.name, self.timeout)
                return


def parse_hostport(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

__all__ = ["ADMIN_HELLO", "FrameError", "FrameSender", "FramedConnection", "HandshakeRefused",
           "Hello", "Link", "SendCounters", "client_handshake", "open_framed", "parse_hostport",
           "server_handshake"]
