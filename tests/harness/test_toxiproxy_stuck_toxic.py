"""A toxic Toxiproxy cannot remove (its buffered bytes cannot be handed on while the far end is
not reading) makes `Wan.restore_wan` fail with a message naming the toxic and the proxy, after
retrying, instead of a bare HTTP timeout. Real toxiproxy-server, loopback only."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness._toxiproxy as toxiproxy_module
from harness._toxiproxy import ToxiproxyServer, Wan
from harness.errors import SetupError

pytestmark = pytest.mark.integration

DCS = ["dc1", "dc2"]


class _Sink:
    """Accepts connections and reads nothing until `start_reading()`, so writers towards it block."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.accepted: list[socket.socket] = []
        self.reading = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.accepted.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn: socket.socket) -> None:
        self.reading.wait()
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass

    def start_reading(self) -> None:
        self.reading.set()

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def stuck_wan(tmp_path: Path,
              toxiproxy_server: Path) -> Iterator[tuple[Wan, dict[str, _Sink]]]:
    server = ToxiproxyServer(log_path=tmp_path / "toxiproxy.log", seed=1)
    server.start()
    sinks = {dc: _Sink() for dc in DCS}
    wan = Wan(*server.api, DCS)
    try:
        wan.create_links({dc: s.address for dc, s in sinks.items()}, 10, 0)
        yield wan, sinks
    finally:
        for sink in sinks.values():  # first: a wedged proxy unblocks once its far end goes
            sink.close()
        wan.close()
        server.stop()


def _flood(address: str, seconds: float) -> socket.socket:
    """Write into the link until the kernel buffers on the way are full (bounded in time)."""
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.setblocking(False)
    chunk = b"x" * 65536
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            sock.send(chunk)
        except BlockingIOError:
            time.sleep(0.05)
    return sock


def test_a_removal_that_never_lands_names_the_toxic(
        stuck_wan: tuple[Wan, dict[str, _Sink]], monkeypatch: pytest.MonkeyPatch) -> None:
    wan, _ = stuck_wan
    monkeypatch.setattr(toxiproxy_module, "_REMOVE_DEADLINE_S", 3.0)
    wan.degrade("latency", [("dc1", "dc2")], stream="upstream", latency=2000)
    sock = _flood(wan.link_address("dc1", "dc2"), 3.0)
    try:
        with pytest.raises(SetupError, match="degrade_latency_.*dc1_to_dc2"):
            wan.restore_wan()
    finally:
        sock.close()
