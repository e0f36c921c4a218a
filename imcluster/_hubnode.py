"""Asyncio driver of `HubCore`: one DC's hub process.

One listening port serves access nodes, peer hubs and admin clients (the role comes from the
authenticated hello). One outgoing `Link` per peer DC goes to the `--peer dcX=HOST:PORT` address
(the Toxiproxy proxy `us->dcX` in a real cluster). Events go into the core with `now_ns` = the
wall clock plus the admin-set clock offset; effects are carried out in order, and a `Persist` is
committed to the SQLite store before any later effect is carried out.

Group commit: a `Persist` is not committed at once. Its entries join the open batch, and every
later effect (of this event and of the events after it) is held, in order, until the batch is
committed: one transaction (`HubStore.persist`, synchronous=FULL) at the end of the event loop's
turn (`loop.call_soon`), i.e. once every frame read in this turn has been handled. Then the held
effects run. So an ack, forward, push or delivery never leaves before the entries persisted
before it are durable, as with one commit per `Persist`, at one fsync per turn instead of one per
event. `LogEvent`s are written at once (the lines are flushed right before the commit, never after
it: no committed entry without its line). The admin `status` and `stop` commit the open batch
first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from . import _wire
from ._admin import ClockedNode
from ._config import HubConfig
from ._eventlog import EventLog
from ._events import (
    AccessConnected,
    AccessDisconnected,
    AccessFrame,
    Effect,
    LogEvent,
    PeerFrame,
    Persist,
    SendAccess,
    SendPeer,
    SetTimer,
)
from ._hub import HubCore, kind_counters
from ._net import (
    FramedConnection,
    FrameError,
    FrameSender,
    Hello,
    Link,
    SendCounters,
    server_handshake,
)
from ._state import Entry
from ._store import HubStore

log = logging.getLogger("imcluster.hub")

PEER_REQUESTS = frozenset({"digest", "forward"})
HELD_WHILE_DOWN = frozenset({"push"})  # sent once a link to the peer is up (`Link(hold=...)`)


class HubNode(ClockedNode):
    """A running hub: `await start()`, then `await stop()` (or let the process be killed)."""

    def __init__(self, config: HubConfig, *, listen: tuple[str, int],
                 peers: dict[str, tuple[str, int]], db: str, secret: bytes,
                 event_log: str | None = None, seed: int = 0, peer_timeout: float = 1.5) -> None:
        # the driver counts what it writes to peers (`SendCounters`, by kind too): the core
        # need not encode every frame once more just to count its bytes
        self.config = config = replace(config, count_wan_bytes=False)
        self.node_name = config.node
        self.listen = listen
        self.peer_addrs = peers
        self.secret = secret
        self.peer_timeout = peer_timeout
        self.net_rng = random.Random(f"{seed}:{config.dc}:net")
        self.core_rng = random.Random(f"{seed}:{config.dc}:core")
        volatile = "volatile-store" in config.bugs
        self.store = HubStore(":memory:" if volatile else db)
        self.events = EventLog(event_log, config.dc, config.node)
        self.wan = SendCounters()
        self.local = SendCounters()
        self.links: dict[str, Link] = {}
        self.incoming: dict[str, FrameSender] = {}
        self.access: dict[str, FrameSender] = {}
        self.core: HubCore | None = None
        self.server: asyncio.AbstractServer | None = None
        self.bound: tuple[str, int] = listen
        self._batch: list[Entry] = []  # entries of the `Persist`s not committed yet
        self._held: list[Effect] = []  # effects after them, carried out once they are committed
        self._commit_handle: asyncio.Handle | None = None
        self.persists = 0  # `Persist` effects (each batch has one or more: `store_commits`)
        self._init_timers()

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> tuple[str, int]:
        restored = self.store.load()
        self.core = HubCore(self.config, self.core_rng, restored)
        log.info("%s: restored %d entries", self.config.node, len(restored))
        self.server = await asyncio.start_server(self._accept, self.listen[0], self.listen[1],
                                                 limit=_wire.MAX_PEER_FRAME + 1024)
        sock = self.server.sockets[0].getsockname()
        self.bound = (sock[0], sock[1])
        for peer, (host, port) in sorted(self.peer_addrs.items()):
            link = Link(f"{self.config.dc}->{peer}", host, port, secret=self.secret, role="hub",
                        dc=self.config.dc, node=self.config.node, rng=self.net_rng,
                        on_up=lambda: None, on_frame=self._peer_frame_handler(peer),
                        on_down=lambda: None, counters=self.wan, timeout=self.peer_timeout,
                        requests=PEER_REQUESTS, greeting=self._greeting_for(peer),
                        heard=self._heard_from(peer), hold=HELD_WHILE_DOWN)
            self.links[peer] = link
            link.start()
        self._run(self.core.start(self.now_ns()))
        return self.bound

    async def stop(self) -> None:
        self._commit()
        self._cancel_timers()
        for link in self.links.values():
            await link.stop()
        for sender in [*self.incoming.values(), *self.access.values()]:
            sender.stop()
            sender.conn.close()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)
        self.store.close()
        self.events.close()

    # ------------------------------------------------------------ events and effects

    def _greeting_for(self, peer: str) -> Callable[[], list[dict[str, Any]]]:
        """The core's first frames for `peer` on each new link (a digest, and our own entries it
        lacked when last heard: `HubCore.greeting`)."""
        def greeting() -> list[dict[str, Any]]:
            return self.core.greeting(peer, self.now_ns()) if self.core is not None else []
        return greeting

    def _heard_from(self, peer: str) -> Callable[[], float]:
        """When bytes last came from `peer` on its own connection to us (0.0: none open)."""
        def heard() -> float:
            sender = self.incoming.get(peer)
            return sender.conn.last_read if sender is not None else 0.0
        return heard

    def _peer_frame_handler(self, peer: str) -> Callable[[dict[str, Any]], None]:
        return lambda frame: self.dispatch(PeerFrame(peer, frame))

    def _run(self, effects: list[Effect]) -> None:
        """Carry out `effects` in order, but group commit: a `Persist` opens (or joins) the batch
        committed at the end of this loop turn, and what follows it waits for that commit."""
        for effect in effects:
            if isinstance(effect, Persist):
                if not effect.entries:
                    continue
                self.persists += 1
                if not self._batch:
                    self._commit_handle = asyncio.get_running_loop().call_soon(self._commit)
                self._batch.extend(effect.entries)
            elif self._batch and not isinstance(effect, LogEvent):
                self._held.append(effect)
            else:
                self._carry_out_logged(effect)
        if not self._batch:
            # the event's log lines in one write (`EventLog`); while a batch is open they are
            # written right before its commit
            self.events.flush()

    def _commit(self) -> None:
        """Commit the open batch in one transaction, then carry out the effects held behind it."""
        if self._commit_handle is not None:
            self._commit_handle.cancel()
            self._commit_handle = None
        batch, held = self._batch, self._held
        if not batch:
            return
        self._batch, self._held = [], []
        self.events.flush()  # no committed entry without its log line
        try:
            self.store.persist(batch)
        except Exception:
            log.critical("%s: store write failed, exiting", self.config.node, exc_info=True)
            os._exit(70)
        for effect in held:
            self._carry_out_logged(effect)
        self.events.flush()

    def _carry_out(self, effect: Effect) -> None:
        if isinstance(effect, SendPeer):  # a `Persist` never comes here: `_run` batches it
            if effect.reply:
                sender = self.incoming.get(effect.peer)
                if sender is not None:
                    sender.send(effect.frame)
                else:
                    self.wan.frames_dropped += 1
            elif effect.peer in self.links:
                self.links[effect.peer].send(effect.frame)
        elif isinstance(effect, SendAccess):
            access = self.access.get(effect.node)
            if access is not None:
                access.send(effect.frame)
        elif isinstance(effect, SetTimer):
            self._set_timer(effect.name, effect.delay_ms, self._fire)
        elif isinstance(effect, LogEvent):
            self.events.write(effect.event, effect.entry)
        else:
            log.warning("%s: unexpected effect %r", self.config.node, effect)

    # ------------------------------------------------------------ connections

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = FramedConnection(reader, writer, _wire.MAX_PEER_FRAME)
        try:
            hello = await server_handshake(conn, self.secret, self.peer_timeout)
            if hello is None:
                return
            if hello.role == "hub" and hello.dc in self.peer_addrs:
                await self._serve_peer(conn, hello)
            elif hello.role == "access" and hello.dc == self.config.dc:
                await self._serve_access(conn, hello)
            elif hello.role == "admin":
                await self.serve_admin(conn)
            else:
                conn.write_frame({"type": "error", "code": "unauthorized",
                                  "message": f"{hello.role} of {hello.dc} not served here"})
        except Exception:
            log.exception("%s: connection handler failed", self.config.node)
        finally:
            conn.close()

    async def _serve_peer(self, conn: FramedConnection, hello: Hello) -> None:
        sender = FrameSender(conn, self.wan)
        old = self.incoming.get(hello.dc)
        if old is not None:
            old.stop()
            old.conn.close()
        self.incoming[hello.dc] = sender
        if self.core is not None:
            self.core.peer_connected(hello.dc)
        try:
            await self._read_into(conn, lambda frame: self.dispatch(PeerFrame(hello.dc, frame)))
        finally:
            sender.stop()
            if self.incoming.get(hello.dc) is sender:
                del self.incoming[hello.dc]

    async def _serve_access(self, conn: FramedConnection, hello: Hello) -> None:
        sender = FrameSender(conn, self.local)
        old = self.access.get(hello.node)
        if old is not None:
            old.stop()
            old.conn.close()
            del self.access[hello.node]
            self.dispatch(AccessDisconnected(hello.node))
        self.access[hello.node] = sender
        self.dispatch(AccessConnected(hello.node))
        try:
            await self._read_into(conn, lambda frame: self.dispatch(AccessFrame(hello.node, frame)))
        finally:
            sender.stop()
            if self.access.get(hello.node) is sender:
                del self.access[hello.node]
                self.dispatch(AccessDisconnected(hello.node))

    async def _read_into(self, conn: FramedConnection,
                         handle: Callable[[dict[str, Any]], None]) -> None:
        """Feed frames to `handle` until EOF; an invalid inter-node frame closes the link."""
        while True:
            try:
                frame = await conn.read_frame()
            except FrameError as exc:
                log.warning("%s: invalid frame from %s (%s), closing", self.config.node,
                            conn.peername, exc.code)
                return
            if frame is None:
                return
            handle(frame)

    # ------------------------------------------------------------ admin

    def counters(self) -> dict[str, int]:
        assert self.core is not None
        counters = dict(self.core.counters)
        counters.update(wan_frames_sent=self.wan.frames_sent, wan_bytes_sent=self.wan.bytes_sent,
                        wan_frames_dropped=self.wan.frames_dropped,
                        access_frames_dropped=self.local.frames_dropped,
                        store_commits=self.store.commits, store_persists=self.persists,
                        core_errors=self.core_errors,
                        effect_errors=self.effect_errors,
                        peer_reconnects=sum(max(0, link.connects - 1)
                                            for link in self.links.values()),
                        peer_hang_closes=sum(link.hang_closes for link in self.links.values()),
                        peer_connect_failures=sum(link.connect_failures
                                                  for link in self.links.values()),
                        **kind_counters(self.wan.by_kind))
        return counters

    def admin_status(self) -> dict[str, Any]:
        assert self.core is not None
        self._commit()  # what the status reports is durable
        return {"type": "admin_ok", **self.core.status(), "health": "ok",
                "counters": self.counters(), "clock_offset_ms": self.clock_offset_ms,
                "peers_up": sorted(p for p, link in self.links.items() if link.up),
                "access_nodes": sorted(self.access)}


__all__ = ["HubNode"]
