"""What every node driver shares: the skewable clock the core sees, feeding events to the core
and timers on the event loop, and the admin request loop (after the handshake, role `admin`).

Admin frames (docs/architecture.md "Processes"): `{"type":"admin","op":"status"}` ->
`admin_ok {...}` (the node's `admin_status()`), `{"type":"admin","op":"set_clock","offset_ms":N}` ->
`admin_ok {clock_offset_ms}`. The offset is added to `time.time_ns()` for every `now_ns` given to
the core; event logs keep the real wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from ._events import Effect, TimerFired
from ._net import FramedConnection, FrameError

log = logging.getLogger("imcluster.node")


class ClockedNode:
    """Shared by hub and access drivers: skewable clock, event dispatch, timers, admin loop.

    A subclass sets `core` (a `HubCore` or `AccessCore`; `None` until it exists), `node_name`, and
    implements `_run(effects)` and `admin_status()`.
    """

    clock_offset_ms: int = 0
    core: Any = None
    node_name: str = ""

    def now_ns(self) -> int:
        return time.time_ns() + self.clock_offset_ms * 1_000_000

    def dispatch(self, event: object) -> None:
        """Feed one event to the core with the current (skewable) time; carry out its effects.
        A core that raises is logged and the event dropped: the node keeps serving."""
        assert self.core is not None, "event before the core exists"
        try:
            effects = self.core.handle(event, self.now_ns())
        except Exception:
            log.exception("%s: core failed on %r", self.node_name, event)
            return
        self._run(effects)

    def _run(self, effects: list[Effect]) -> None:
        raise NotImplementedError

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.dispatch(TimerFired(name))

    def _init_timers(self) -> None:
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def _set_timer(self, name: str, delay_ms: float, fire: Callable[[str], None]) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timers[name] = loop.call_later(max(0.0, delay_ms) / 1000.0, fire, name)

    def _cancel_timers(self) -> None:
        for handle in self._timers.values():
            handle.cancel()
        self._timers.clear()

    def admin_status(self) -> dict[str, Any]:
        raise NotImplementedError

    async def serve_admin(self, conn: FramedConnection) -> None:
        """Answer admin requests until the admin client goes away."""
        while True:
            try:
                frame = await conn.read_frame()
            except FrameError as exc:
                conn.write_frame({"type": "error", "code": exc.code, "message": exc.message})
                return
            if frame is None:
                return
            op = frame.get("op")
            reply: dict[str, Any]
            if frame.get("type") != "admin":
                reply = {"type": "error", "code": "unknown_type", "message": "expected admin"}
            elif op == "status":
                reply = self.admin_status()
            elif op == "set_clock":
                offset = frame.get("offset_ms")
                if isinstance(offset, (int, float)) and not isinstance(offset, bool):
                    self.clock_offset_ms = int(offset)
                    reply = {"type": "admin_ok", "clock_offset_ms": self.clock_offset_ms}
                else:
                    reply = {"type": "error", "code": "bad_field", "message": "offset_ms: number"}
            else:
                reply = {"type": "error", "code": "bad_field", "message": f"unknown op {op!r}"}
            conn.write_frame(reply)
            await conn.drain()


__all__ = ["ClockedNode"]
