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

# a skew beyond this (~10 years) is no clock fault but a way to push HLC stamps past what the
# store can hold
MAX_CLOCK_OFFSET_MS = 10 * 365 * 86_400_000


class ClockedNode:
    """Shared by hub and access drivers: skewable clock, event dispatch, timers, admin loop.

    A subclass sets `core` (a `HubCore` or `AccessCore`; `None` until it exists), `node_name`,
    calls `_init_timers()`, and implements `_carry_out(effect)` and `admin_status()`.
    """

    clock_offset_ms: int = 0
    core: Any = None
    node_name: str = ""

    def now_ns(self) -> int:
        return time.time_ns() + self.clock_offset_ms * 1_000_000

    def dispatch(self, event: object) -> None:
        """Feed one event to the core with the current (skewable) time; carry out its effects.

        A core that raises is logged and counted (`core_errors`) and the event dropped: the node
        keeps serving. A timer whose handling raised is armed again with its last delay, since a
        periodic timer (gossip) re-arms itself only when its handling succeeds: a core error must
        never silence a node's timers."""
        assert self.core is not None, "event before the core exists"
        try:
            effects = self.core.handle(event, self.now_ns())
        except Exception:
            self.core_errors += 1
            log.exception("%s: core failed on %r", self.node_name, event)
            if isinstance(event, TimerFired) and event.name not in self._timers:
                delay = self._timer_delays.get(event.name)
                if delay is not None:
                    self._set_timer(event.name, delay, self._fire)
            return
        self._run(effects)

    def _run(self, effects: list[Effect]) -> None:
        """Carry out `effects` in order; one that fails is logged and counted (`effect_errors`)
        and the next ones still run (a frame that cannot be sent must not drop a timer)."""
        for effect in effects:
            self._carry_out_logged(effect)

    def _carry_out_logged(self, effect: Effect) -> None:
        """`_carry_out(effect)`; a failure is logged and counted (`effect_errors`)."""
        try:
            self._carry_out(effect)
        except Exception:
            self.effect_errors += 1
            log.exception("%s: effect failed: %r", self.node_name, effect)

    def _carry_out(self, effect: Effect) -> None:
        raise NotImplementedError

    def _fire(self, name: str) -> None:
        self._timers.pop(name, None)
        self.dispatch(TimerFired(name))
        if name not in self._timers:  # not armed again: forget its delay (one name a forward)
            self._timer_delays.pop(name, None)

    def _init_timers(self) -> None:
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._timer_delays: dict[str, float] = {}  # the last delay each timer was set with
        self.core_errors = 0
        self.effect_errors = 0

    def _set_timer(self, name: str, delay_ms: float, fire: Callable[[str], None]) -> None:
        old = self._timers.pop(name, None)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._timer_delays[name] = delay_ms
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
                if (isinstance(offset, (int, float)) and not isinstance(offset, bool)
                        and abs(offset) <= MAX_CLOCK_OFFSET_MS):  # False for NaN too
                    self.clock_offset_ms = int(offset)
                    reply = {"type": "admin_ok", "clock_offset_ms": self.clock_offset_ms}
                else:
                    reply = {"type": "error", "code": "bad_field",
                             "message": f"offset_ms: a number within ±{MAX_CLOCK_OFFSET_MS}"}
            else:
                reply = {"type": "error", "code": "bad_field", "message": f"unknown op {op!r}"}
            conn.write_frame(reply)
            await conn.drain()


__all__ = ["ClockedNode"]
