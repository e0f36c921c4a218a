"""Live progress of a run on the terminal (rich): phase, elapsed time, ops/s, acked, delivered,
active faults. `LiveProgress(state)` is a context manager that refreshes a few times a second."""

from __future__ import annotations

import threading
import time
from typing import Any, Self

from .runner import RunState


def progress_line(state: RunState, rate_window: RateWindow) -> str:
    clients = state.clients
    acked = clients.acked if clients is not None else 0
    delivered = clients.delivered if clients is not None else 0
    ops_per_s = rate_window.update(state.ops)
    faults = ", ".join(sorted(state.active_faults)) or "none"
    elapsed = time.monotonic() - state.started
    return (f"[bold]{state.phase}[/bold] {elapsed:.0f}s  {ops_per_s:.0f} ops/s  "
            f"acked {acked}  delivered {delivered}  [red]faults: {faults}[/red]  "
            f"(ops {state.ops})")


class RateWindow:
    """Ops per second over the last few seconds."""

    def __init__(self, window_s: float = 3.0) -> None:
        self.window_s = window_s
        self.samples: list[tuple[float, int]] = []

    def update(self, count: int) -> float:
        now = time.monotonic()
        self.samples.append((now, count))
        while len(self.samples) > 2 and now - self.samples[0][0] > self.window_s:
            self.samples.pop(0)
        t0, c0 = self.samples[0]
        return (count - c0) / (now - t0) if now > t0 else 0.0


class LiveLine:
    """Shows `line()` (a rich renderable) with rich.live from a thread while the context is open,
    four times a second; a no-op when the console is not a terminal or `enabled` is false."""

    thread_name = "progress"

    def __init__(self, console: Any, enabled: bool = True) -> None:
        self.console = console
        self.enabled = enabled and bool(getattr(console, "is_terminal", False))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def line(self) -> Any:
        raise NotImplementedError

    def _loop(self) -> None:
        from rich.live import Live
        from rich.text import Text
        with Live(Text(""), console=self.console, refresh_per_second=4, transient=True) as live:
            while not self._stop.wait(0.25):
                live.update(self.line())

    def __enter__(self) -> Self:
        if self.enabled:
            self._thread = threading.Thread(target=self._loop, name=self.thread_name,
                                            daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)


class LiveProgress(LiveLine):
    """Shows `progress_line` with rich.live while the run goes on (no-op when not a terminal)."""

    def __init__(self, state: RunState, console: Any, enabled: bool = True) -> None:
        super().__init__(console, enabled)
        self.state = state
        self._window = RateWindow()

    def line(self) -> Any:
        from rich.text import Text
        return Text.from_markup(progress_line(self.state, self._window))


__all__ = ["LiveLine", "LiveProgress", "RateWindow", "progress_line"]
