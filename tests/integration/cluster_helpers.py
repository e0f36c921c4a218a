"""Helpers for the integration tests: logged-in clients, next delivery, polling admin status.

Imported by the test modules as `cluster_helpers` (pytest puts this directory on sys.path).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from harness.backends.local import LocalBackend
from imcluster.client import Client

ClusterFactory = Callable[..., LocalBackend]


async def login(backend: LocalBackend, dc: str, user: str, access_index: int = 0) -> Client:
    """A connected `Client` logged in as `user` on an access node of `dc` (auto-ack on)."""
    host, port = backend.access_addresses()[dc][access_index]
    client = Client(host, port, secret=backend.secret)
    await client.connect()
    await client.login(user)
    return client


async def next_delivery(client: Client, timeout: float) -> dict[str, Any]:
    """The next raw deliver frame the client receives (raises TimeoutError)."""
    return dict(await asyncio.wait_for(client.raw_deliveries.get(), timeout))


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float,
                     interval: float = 0.05) -> float:
    """Poll the async `predicate` until true; seconds it took; AssertionError on timeout."""
    start = time.monotonic()
    while True:
        if await predicate():
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


async def version_vectors(backend: LocalBackend) -> dict[str, dict[str, int]]:
    """{dc: its hub's version vector}."""
    result: dict[str, dict[str, int]] = {}
    for dc in backend.spec.dc_names if backend.spec else []:
        status = await backend.admin_status(backend.hub(dc))
        result[dc] = {k: int(v) for k, v in dict(status.get("vv") or {}).items()}
    return result


async def links_up(backend: LocalBackend) -> bool:
    """True when every hub has its connection to every peer up (`peers_up`): a cross-DC forward
    sent earlier finds no link, is pooled, and arrives `offline`, later."""
    names = list(backend.spec.dc_names) if backend.spec else []
    for dc in names:
        status = await backend.admin_status(backend.hub(dc))
        if set(status.get("peers_up") or []) != set(names) - {dc}:
            return False
    return True


async def converged(backend: LocalBackend) -> bool:
    """True when every hub reports the same version vector."""
    vectors = list((await version_vectors(backend)).values())
    return all(v == vectors[0] for v in vectors)
