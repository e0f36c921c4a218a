"""`Client.close` never swallows a cancellation of the task calling it (real sockets: an asyncio
server on 127.0.0.1). Before the fix a cancel landing while `close` waited for its read task was
eaten by `suppress(BaseException)`, and one landing as the socket finished closing was lost by
Python 3.11's `asyncio.wait_for`; either way `close` returned and the caller went on as if it had
not been cancelled (a workload timeout or a Ctrl-C that did not take effect)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from imcluster.client import Client


@contextlib.asynccontextmanager
async def _server(*, read: bool) -> AsyncIterator[int]:
    """A server on 127.0.0.1 that keeps each connection open and reads what comes only if
    `read`; yields its port, ends its connections on exit."""
    stop = asyncio.Event()
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            if read:
                while await reader.read(65536):
                    pass
            else:
                await stop.wait()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        stop.set()
        server.close()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def _client_with_a_full_socket(port: int) -> Client:
    """A client of a server that reads nothing, with more queued than the kernel buffers take:
    its socket cannot finish closing."""
    client = Client("127.0.0.1", port)
    await client.connect()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.send_raw(b"x" * (64 << 20)), 0.5)
    return client


async def _read_task_ends(client: Client) -> None:
    """The client's read task ends within 1 s (it must not outlive a cancelled `close`)."""
    read_task = client._task
    assert read_task is not None
    await asyncio.wait([read_task], timeout=1.0)
    assert read_task.done(), "the read task outlived the cancelled close()"


async def _close_cancelled(client: Client) -> None:
    """Cancel a task blocked in `client.close()` as the client's read task ends: the cancel
    must end it with CancelledError."""
    closing = asyncio.ensure_future(client.close())

    async def canceller() -> bool:
        await client.closed.wait()
        return closing.cancel()  # False if close had already returned: no test then

    cancelling = asyncio.ensure_future(canceller())
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert await cancelling, "close() returned before it could be cancelled"
    assert closing.cancelled()
    await _read_task_ends(client)


async def test_cancel_while_close_waits_for_the_read_task_propagates() -> None:
    """The peer reads nothing, so the client's socket cannot finish closing (its write buffer
    stays full): `close` gives up on it after 1 s, cancels its read task and waits for it; the
    caller is cancelled as that read task ends."""
    async with _server(read=False) as port:
        client = await _client_with_a_full_socket(port)
        await _close_cancelled(client)


async def test_cancel_as_the_socket_closes_propagates() -> None:
    """The ordinary close: the caller is cancelled as the connection goes down."""
    async with _server(read=True) as port:
        client = Client("127.0.0.1", port)
        await client.connect()
        await _close_cancelled(client)


async def test_a_close_cancelled_before_the_socket_closed_still_ends_the_read_task() -> None:
    """Cancelled while it waits for a socket that cannot finish closing (the peer reads
    nothing): the cancel propagates and the read task does not outlive `close`."""
    async with _server(read=False) as port:
        client = await _client_with_a_full_socket(port)
        closing = asyncio.ensure_future(client.close())
        await asyncio.sleep(0.2)  # inside the 1 s wait for the socket
        assert not closing.done()
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        await _read_task_ends(client)
