"""The IM workload on NATS JetStream (nats-py).

Streams (created by `create_streams` before the main phase): `OUT_<dc>` (subjects
`out.<dc>.>`, placed in the site `<dc>`, one replica) is DC `dc`'s outbox; `AGG_<dc>` (placed in
`<dc>`) sources every DC's outbox, so each DC holds every message. A user `u` has a durable pull
consumer `u` on every `AGG_<dc>` filtered on `out.*.u` (explicit ack, deliver all), created up
front as well, so logging in needs no JetStream meta-leader round trip.

* `send(id, to)`: JetStream publish to `out.<dc>.<to>` with header `Nats-Msg-Id: id`; the ack is
  the outbox's PubAck (stored by the DC's server).
* `login(user)`: binds to the durable `u` of the DC's aggregate and pulls; each message becomes a
  `deliver` frame (`via`: the DC it was sent in) and is acked after the frame is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from .._base import DeliverCallback

__all__ = ["NatsUserClient", "create_streams"]

CONNECT_TIMEOUT_S = 3.0
CLOSE_TIMEOUT_S = 2.0
PLACEMENT_TIMEOUT_S = 30.0
ACK_WAIT_S = 3.0
"""The consumers' AckWait (NATS's default: 30 s). A message the server hands to a session that
ends before recording it (a logout cancels a fetch whose batch is in flight; a pull request
lingers on the server after the client's fetch timed out) is redelivered only after AckWait:
with the default it outlived a run's recovery and read as lost (a 2-DC no-fault docker run lost
1 of 45 that way). Shorter means more redeliveries of slow acks: duplicates, which NATS declares."""
FETCH_RETRY_S = 0.2
"""Pause before pulling again after a fetch error on a connection that is still open."""


log = logging.getLogger(__name__)


async def _log_error(exc: Exception) -> None:
    """nats-py's default error callback prints each connection error with its traceback on the
    terminal (dozens per killed server); the session's end is the workload's business."""
    log.debug("nats client error: %r", exc)


def _url(host: str, port: int) -> str:
    return f"nats://{host}:{port}"


async def _connect(host: str, port: int, **options: Any) -> Any:
    import nats

    options.setdefault("error_cb", _log_error)
    return await nats.connect(_url(host, port), connect_timeout=CONNECT_TIMEOUT_S,
                              allow_reconnect=False, max_reconnect_attempts=0, **options)


async def create_streams(servers: dict[str, tuple[str, int]], users: list[str]) -> None:
    """Every DC's outbox and aggregate stream, and every user's durable consumer on every
    aggregate. `servers`: {dc: (host, port)}."""
    from nats.js.api import (
        AckPolicy,
        ConsumerConfig,
        DeliverPolicy,
        Placement,
        StreamConfig,
        StreamSource,
    )

    dcs = sorted(servers)
    clients = {dc: await _connect(*servers[dc]) for dc in dcs}
    try:
        streams = {dc: clients[dc].jetstream(timeout=10) for dc in dcs}
        for dc in dcs:  # every outbox first: a source that does not exist yet is retried late
            await _add_stream(streams[dc], StreamConfig(
                name=f"OUT_{dc}", subjects=[f"out.{dc}.>"], placement=Placement(cluster=dc)))
        for dc in dcs:
            await _add_stream(streams[dc], StreamConfig(
                name=f"AGG_{dc}", placement=Placement(cluster=dc),
                sources=[StreamSource(name=f"OUT_{peer}") for peer in dcs]))
        # concurrently: each creation is a round trip to the meta leader, maybe across the WAN
        await asyncio.gather(*(streams[dc].add_consumer(f"AGG_{dc}", ConsumerConfig(
            durable_name=user, filter_subject=f"out.*.{user}", ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S, deliver_policy=DeliverPolicy.ALL)) for dc in dcs for user in users))
    finally:
        for nc in clients.values():
            await nc.close()


async def _add_stream(js: Any, config: Any, timeout_s: float = PLACEMENT_TIMEOUT_S) -> None:
    """`add_stream`, retried while the meta leader does not know the placement's site yet
    (`no suitable peers for placement`, err_code 10005: seen right after the meta leader was
    elected, before every server's JetStream info had reached it)."""
    from nats.js.errors import BadRequestError

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            await js.add_stream(config)
            return
        except BadRequestError as exc:
            if getattr(exc, "err_code", None) != 10005 or loop.time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def own_state(host: str, port: int, dc: str) -> tuple[int, int, int]:
    """(messages in `OUT_<dc>`, messages in `AGG_<dc>`, messages still due to users pulling
    now) as `dc`'s server reports them. A message fetched but not acked (a user that logged out
    mid-batch) is redelivered after the consumer's AckWait (`ACK_WAIT_S`): the third
    number counts pending and ack-pending messages of the consumers with a waiting pull."""
    nc = await _connect(host, port)
    try:
        js = nc.jetstream(timeout=2)
        out = (await js.stream_info(f"OUT_{dc}")).state.messages
        agg = (await js.stream_info(f"AGG_{dc}")).state.messages
        due, offset = 0, 0
        while True:
            page = await js.consumers_info(f"AGG_{dc}", offset=offset)
            due += sum((c.num_pending or 0) + (c.num_ack_pending or 0)
                       for c in page if c.num_waiting)
            offset += len(page)
            if len(page) < 256:
                return out, agg, due
    finally:
        await nc.close()


class NatsUserClient:
    """One user's connection to the server of `dc` (see the module docstring)."""

    def __init__(self, host: str, port: int, user: str, dc: str, node: str,
                 on_deliver: DeliverCallback) -> None:
        self.host, self.port, self.user, self.dc, self.node = host, port, user, dc, node
        self._on_deliver = on_deliver
        self._nc: Any = None
        self._js: Any = None
        self._pull: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()

    async def connect(self) -> None:
        async def closed() -> None:
            self.closed.set()

        self._nc = await _connect(self.host, self.port, closed_cb=closed)
        self._js = self._nc.jetstream(timeout=5)

    async def login(self, user: str) -> dict[str, Any]:
        sub = await self._js.pull_subscribe_bind(durable=user, stream=f"AGG_{self.dc}")
        self._pull = asyncio.ensure_future(self._pull_loop(sub))
        return {"node": self.node, "conn": f"{self.node}:{self.user}"}

    async def _pull_loop(self, sub: Any) -> None:
        from nats.errors import TimeoutError as NatsTimeout

        while not self.closed.is_set():
            try:
                messages = await sub.fetch(64, timeout=1.0)
            except (TimeoutError, NatsTimeout):
                continue
            except Exception:  # noqa: BLE001 - a closed connection ends the session
                if self._nc is None or self._nc.is_closed:
                    self.closed.set()
                    return
                # an error status of the pull (a consumer leader being re-elected after a
                # restart, no responders) is no reason to stop pulling: a session that ended
                # here silently stopped receiving while the history still had it online
                await asyncio.sleep(FETCH_RETRY_S)
                continue
            for message in messages:
                try:
                    body = json.loads(message.data)
                except ValueError:
                    body = {}
                self._on_deliver(self.user, {
                    "type": "deliver", "id": body.get("id"), "from": body.get("from"),
                    "to": body.get("to"), "dc": self.dc, "via": message.subject.split(".")[1]})
                with contextlib.suppress(Exception):
                    await message.ack()

    async def logout(self) -> None:
        await self._close()

    async def send(self, msg_id: str, to: str, body: str, timeout: float) -> None:
        payload = json.dumps({"id": msg_id, "from": self.user, "to": to, "dc": self.dc,
                              "body": body}).encode()
        await self._js.publish(f"out.{self.dc}.{to}", payload, timeout=timeout,
                               headers={"Nats-Msg-Id": msg_id})

    async def close(self) -> None:
        await self._close()

    async def _close(self) -> None:
        """Stop pulling and close, bounded; never swallows the caller's own cancellation (a
        suppressed CancelledError would defeat the workload's timeout: seen, a logout hung for
        minutes with its server cut off)."""
        if self._pull is not None:
            self._pull.cancel()
            await asyncio.wait([self._pull], timeout=CLOSE_TIMEOUT_S)
            self._pull = None
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._nc.close(), CLOSE_TIMEOUT_S)
