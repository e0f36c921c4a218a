"""Asyncio client library for the reference IM cluster (public; the harness uses it).

`Client` speaks the client protocol of DESIGN §1 to an access node::

    client = Client("127.0.0.1", port, secret="s3cret")
    await client.connect()
    await client.login("alice")                 # token computed from the secret
    await client.send("m1", "bob", "hi")        # returns on send_ok, raises SendRejected
    async for delivery in client.deliveries():  # deduplicated by (from, id)
        ...

Every frame received is reported to `on_frame` (if given), every raw `deliver` frame is put on
`raw_deliveries` (duplicates included: the harness records each one), and with `auto_ack` each
delivery is acknowledged. `AdminClient` talks to the admin side of a hub or access node
(`status()`, `set_clock(offset_ms)`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Self

from ._auth import hello_mac, user_token
from ._clientcore import ClientCore, login_frame, logout_frame, ping_frame, send_frame
from ._wire import encode

Frame = dict[str, Any]
_READ_LIMIT = 8 * 1024 * 1024


class ClientError(Exception):
    """The server answered with an error frame (`code`, `message`)."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class SendRejected(ClientError):
    """The server answered `send_err {id, code, message}`."""


class LoginFailed(ClientError):
    """Login refused (`unauthorized`, `unavailable`, ...); the server closes the connection."""


async def _close_writer(writer: asyncio.StreamWriter) -> None:
    """Close a connection, waiting at most 1 s for the socket to close. A cancel of the caller
    propagates: `asyncio.timeout`, not `wait_for`, which on Python 3.11 returns instead when the
    cancel lands as the socket finishes closing."""
    writer.close()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await writer.wait_closed()


class Client:
    """One user's connection to an access node."""

    def __init__(self, host: str, port: int, secret: str | None = None, *, auto_ack: bool = True,
                 on_frame: Callable[[Frame], None] | None = None) -> None:
        self.host, self.port = host, port
        self.secret = secret
        self.auto_ack = auto_ack
        self.on_frame = on_frame
        self.user: str | None = None
        self.raw_deliveries: asyncio.Queue[Frame] = asyncio.Queue()
        self._deliveries: asyncio.Queue[Frame | None] = asyncio.Queue()
        # the protocol (frames, what answers which waiter) is the sans-IO core's
        self.core: ClientCore[asyncio.Future[Frame]] = ClientCore(auto_ack)
        self.errors: list[Frame] = self.core.errors
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    # ------------------------------------------------------------ connection

    async def connect(self, timeout: float = 5.0) -> None:
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=_READ_LIMIT), timeout)
        self._task = asyncio.ensure_future(self._read_loop())

    async def close(self) -> None:
        """Close the connection (waiting at most 1 s for the socket) and end the read task.

        Only the read task's own end is swallowed (its cancellation, an error): a cancel of the
        task calling `close` propagates. Hence `asyncio.wait` on the read task, not an `await` of
        it under `suppress(BaseException)` (which ate the caller's cancel).
        """
        try:
            if self._writer is not None:
                await _close_writer(self._writer)
            task = self._task
            if task is not None:
                task.cancel()
                await asyncio.wait([task])
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    task.result()
        finally:
            if self._task is not None and not self._task.done():
                self._task.cancel()  # close itself was cancelled first: the read task ends too
            self._fail_all(ConnectionError("client closed"))

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _write(self, frame: Frame) -> None:
        if self._writer is None or self._writer.is_closing():
            raise ConnectionError("not connected")
        self._writer.write(encode(frame))

    # ------------------------------------------------------------ operations

    async def login(self, user: str, token: str | None = None, timeout: float = 5.0) -> Frame:
        """Log in as `user`; returns the `login_ok` frame or raises `LoginFailed`."""
        if token is None:
            if self.secret is None:
                raise ValueError("login needs a token or the cluster secret")
            token = user_token(self.secret.encode(), user)
        login: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self.core.login = login
        self._write(login_frame(user, token))
        frame = await asyncio.wait_for(login, timeout)
        self.user = user
        return frame

    async def send(self, id: str, to: str, body: str, timeout: float = 5.0) -> Frame:
        """Send a message; returns `send_ok`, raises `SendRejected` or `asyncio.TimeoutError`."""
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self.core.wait_send(id, future)
        try:
            self._write(send_frame(id, to, body))
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            self.core.forget_send(id, future)

    async def ack(self, id: str) -> None:
        self._write({"type": "ack", "id": id})
        await self._drain()

    async def logout(self) -> None:
        self._write(logout_frame())
        await self._drain()
        self.user = None

    async def ping(self, timeout: float = 5.0) -> Frame:
        future: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self.core.pings.append(future)
        self._write(ping_frame())
        return await asyncio.wait_for(future, timeout)

    async def send_raw(self, data: bytes) -> None:
        """Write raw bytes (tests of malformed input)."""
        if self._writer is None:
            raise ConnectionError("not connected")
        self._writer.write(data)
        await self._drain()

    async def deliveries(self) -> AsyncIterator[Frame]:
        """Deliveries deduplicated by (from, message id), since two senders may use one id; ends
        when the connection closes."""
        while True:
            frame = await self._deliveries.get()
            if frame is None:
                self._deliveries.put_nowait(None)
                return
            yield frame

    async def _drain(self) -> None:
        if self._writer is not None:
            await self._writer.drain()

    # ------------------------------------------------------------ receiving

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                try:
                    frame = json.loads(line)
                except ValueError:
                    continue
                if isinstance(frame, dict):
                    self._handle(frame)
        except (ConnectionError, OSError, ValueError, asyncio.LimitOverrunError):
            pass
        finally:
            self.closed.set()
            self._fail_all(ConnectionError("connection closed"))
            self._deliveries.put_nowait(None)

    def _handle(self, frame: Frame) -> None:
        if self.on_frame is not None:
            self.on_frame(frame)
        received = self.core.receive(frame)
        if received.delivery is not None:
            self.raw_deliveries.put_nowait(frame)
            if received.first_delivery:
                self._deliveries.put_nowait(frame)
            if received.ack is not None:
                with contextlib.suppress(ConnectionError):
                    self._write(received.ack)
            return
        refusal = SendRejected if received.kind == "send_err" else LoginFailed
        for future in received.answered:
            if future.done():
                continue
            if received.refused:
                future.set_exception(refusal(received.code, received.message))
            else:
                future.set_result(frame)

    def _fail_all(self, exc: Exception) -> None:
        for future in self.core.take_all():
            if not future.done():
                future.set_exception(exc)
                future.exception()  # mark retrieved: nobody may be waiting any more


class AdminClient:
    """Authenticated admin connection to a hub or an access node."""

    def __init__(self, host: str, port: int, secret: str, *, timeout: float = 5.0) -> None:
        self.host, self.port = host, port
        self.secret = secret
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=64 * 1024 * 1024), self.timeout)
        self._reader, self._writer = reader, writer
        writer.write(encode({"type": "admin_hello"}))
        challenge = await self._read()
        if challenge.get("type") != "challenge":
            raise ClientError("bad_handshake", f"expected challenge, got {challenge!r}")
        mac = hello_mac(self.secret.encode(), str(challenge["nonce"]), "admin", "", "admin")
        writer.write(encode({"type": "hello", "role": "admin", "dc": "", "node": "admin",
                              "mac": mac}))
        answer = await self._read()
        if answer.get("type") != "hello_ok":
            await self.close()
            raise ClientError(str(answer.get("code", "unauthorized")),
                              str(answer.get("message", "")))

    async def _read(self) -> Frame:
        assert self._reader is not None
        line = await asyncio.wait_for(self._reader.readline(), self.timeout)
        if not line:
            raise ConnectionError("admin connection closed")
        frame = json.loads(line)
        if not isinstance(frame, dict):
            raise ClientError("bad_frame", "admin answer is not an object")
        return frame

    async def request(self, frame: Frame) -> Frame:
        async with self._lock:
            if self._writer is None or self._writer.is_closing():
                await self.connect()
            assert self._writer is not None
            try:
                self._writer.write(encode(frame))
                answer = await self._read()
            except BaseException:
                await self.close()
                raise
        if answer.get("type") == "error":
            raise ClientError(str(answer.get("code")), str(answer.get("message", "")))
        return answer

    async def status(self) -> Frame:
        return await self.request({"type": "admin", "op": "status"})

    async def set_clock(self, offset_ms: int) -> Frame:
        return await self.request({"type": "admin", "op": "set_clock", "offset_ms": offset_ms})

    async def close(self) -> None:
        if self._writer is not None:
            await _close_writer(self._writer)
            self._writer = None

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


__all__ = ["AdminClient", "Client", "ClientError", "LoginFailed", "SendRejected"]
