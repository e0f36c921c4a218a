"""Asyncio driver of `AccessCore`: an access node process.

Clients connect to one TCP port and speak the NDJSON protocol of DESIGN §1; their raw bytes go to
the core as `ClientData` (the core frames and validates them). An admin client on the same port
announces itself with an `admin_hello` line first and then goes through the authenticated
handshake. The node keeps one `Link` to its hub (reconnecting with backoff; `HubConnected` /
`HubDisconnected` tell the core) and carries out the core's effects in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import secrets
from typing import Any

from . import _wire
from ._access import AccessCore
from ._admin import ClockedNode
from ._config import AccessConfig
from ._events import (
    ClientClosed,
    ClientData,
    ClientOpened,
    CloseClient,
    Effect,
    HubConnected,
    HubDisconnected,
    HubFrameIn,
    SendClient,
    SendHub,
    SetTimer,
)
from ._net import ADMIN_HELLO, FramedConnection, Link, SendCounters, server_handshake

log = logging.getLogger("imcluster.access")

HUB_REQUESTS = frozenset({"coord", "route"})
MAX_CLIENT_BUFFER = 8 * 1024 * 1024  # a client that reads nothing is dropped past this


class AccessNode(ClockedNode):
    """A running access node: `await start()`, then `await stop()`."""

    def __init__(self, config: AccessConfig, *, listen: tuple[str, int], hub: tuple[str, int],
                 seed: int = 0, hub_timeout: float = 5.0) -> None:
        self.config = config
        self.node_name = config.node
        self.listen = listen
        self.hub_addr = hub
        self.rng = random.Random(f"{seed}:{config.node}:net")
        self.core = AccessCore(config)
        self.hub_counters = SendCounters()
        self.clients: dict[str, asyncio.StreamWriter] = {}
        self.hub_timeout = hub_timeout
        # conn ids are "<node>:<incarnation>.<n>": a restarted node never reuses one (the hub and
        # the coordinates must not mistake a new session for an old one)
        self.incarnation = secrets.token_hex(4)
        self._next_conn = 0
        self.server: asyncio.AbstractServer | None = None
        self.link: Link | None = None
        self.bound: tuple[str, int] = listen
        self.slow_client_drops = 0
        self._init_timers()

    async def start(self) -> tuple[str, int]:
        self.server = await asyncio.start_server(self._accept, self.listen[0], self.listen[1])
        sock = self.server.sockets[0].getsockname()
        self.bound = (sock[0], sock[1])
        self.link = Link(f"{self.config.node}->hub", self.hub_addr[0], self.hub_addr[1],
                         secret=self.config.secret, role="access", dc=self.config.dc,
                         node=self.config.node, rng=self.rng,
                         on_up=lambda: self.dispatch(HubConnected()),
                         on_frame=lambda frame: self.dispatch(HubFrameIn(frame)),
                         on_down=lambda: self.dispatch(HubDisconnected()),
                         counters=self.hub_counters, timeout=self.hub_timeout,
                         requests=HUB_REQUESTS)
        self.link.start()
        return self.bound

    async def stop(self) -> None:
        self._cancel_timers()
        if self.link is not None:
            await self.link.stop()
        for writer in list(self.clients.values()):
            writer.close()
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)

    # ------------------------------------------------------------ events and effects

    def _carry_out(self, effect: Effect) -> None:
        if isinstance(effect, SendClient):
            writer = self.clients.get(effect.conn)
            if writer is None or writer.is_closing():
                return
            writer.write(_encode_safely(effect.frame))
            if writer.transport.get_write_buffer_size() > MAX_CLIENT_BUFFER:
                self.slow_client_drops += 1
                writer.transport.abort()
        elif isinstance(effect, CloseClient):
            writer = self.clients.get(effect.conn)
            if writer is not None:
                writer.close()  # the transport flushes what was written, then closes
        elif isinstance(effect, SendHub):
            if self.link is not None:
                self.link.send(effect.frame)
        elif isinstance(effect, SetTimer):
            self._set_timer(effect.name, effect.delay_ms, self._fire)
        else:
            log.warning("%s: unexpected effect %r", self.config.node, effect)

    # ------------------------------------------------------------ client connections

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # the core learns of the connection at once: its limit and login timeout apply even
        # before the first line (which tells an admin client from a user) has arrived
        self._next_conn += 1
        conn = f"{self.config.node}:{self.incarnation}.{self._next_conn}"
        self.clients[conn] = writer
        self.dispatch(ClientOpened(conn))
        try:
            first = await self._read_first_line(reader)
            if first is not None and _is_admin_hello(first) and not writer.is_closing():
                self.clients.pop(conn, None)
                self.dispatch(ClientClosed(conn))
                await self._serve_admin(reader, writer, first)
                return
            if first:
                self.dispatch(ClientData(conn, first))
            while conn in self.clients and not writer.is_closing():
                try:
                    data = await reader.read(65536)
                except (ConnectionError, OSError):
                    break
                if not data:
                    break
                self.dispatch(ClientData(conn, data))
        finally:
            if self.clients.pop(conn, None) is not None:
                self.dispatch(ClientClosed(conn))
            writer.close()

    async def _read_first_line(self, reader: asyncio.StreamReader) -> bytes | None:
        """Bytes up to and including the first newline (or the first 64 KiB); None on EOF."""
        buffer = b""
        while b"\n" not in buffer and len(buffer) <= _wire.MAX_CLIENT_FRAME:
            try:
                data = await reader.read(65536)
            except (ConnectionError, OSError):
                data = b""
            if not data:
                return buffer or None
            buffer += data
        return buffer

    async def _serve_admin(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           first: bytes) -> None:
        conn = FramedConnection(reader, writer, _wire.MAX_CLIENT_FRAME)
        conn.push_back(first.split(b"\n", 1)[1])
        try:
            hello = await server_handshake(conn, self.config.secret)
            if hello is not None and hello.role == "admin":
                await self.serve_admin(conn)
        except Exception:
            log.exception("%s: admin connection failed", self.config.node)
        finally:
            conn.close()

    # ------------------------------------------------------------ admin

    def admin_status(self) -> dict[str, Any]:
        status = self.core.status()
        status["counters"].update(hub_frames_sent=self.hub_counters.frames_sent,
                                  hub_frames_dropped=self.hub_counters.frames_dropped,
                                  slow_client_drops=self.slow_client_drops,
                                  clients=len(self.clients), core_errors=self.core_errors,
                                  effect_errors=self.effect_errors)
        hub_up = self.link is not None and self.link.up
        return {"type": "admin_ok", **status, "health": "ok" if hub_up else "degraded",
                "hub_connected": hub_up, "clock_offset_ms": self.clock_offset_ms}


def _encode_safely(frame: dict[str, Any]) -> bytes:
    """`_wire.encode`, falling back to ASCII escapes for strings UTF-8 cannot encode (lone
    surrogates a client smuggled in as JSON escapes must not break the connection)."""
    try:
        return _wire.encode(frame)
    except UnicodeEncodeError:
        return json.dumps(frame, separators=(",", ":")).encode("ascii") + b"\n"


def _is_admin_hello(first: bytes) -> bool:
    line = first.split(b"\n", 1)[0]
    try:
        frame = json.loads(line)
    except ValueError:
        return False
    return isinstance(frame, dict) and frame.get("type") == ADMIN_HELLO


__all__ = ["AccessNode"]
