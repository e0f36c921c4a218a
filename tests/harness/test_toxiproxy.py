"""The WAN module against a real `toxiproxy-server`: links, baseline latency, cuts, degradations.

Each DC's "hub" here is a tiny echo server that also records what it received, so a test can tell
which direction of a link carried bytes. Everything runs on 127.0.0.1.
"""

from __future__ import annotations

import os
import socket
import socketserver
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness._toxiproxy import ToxiproxyServer, Wan, find_toxiproxy_server, proxy_name
from harness.errors import SetupError, UsageError

pytestmark = pytest.mark.integration

LATENCY_MS = 50
DCS = ["dc1", "dc2", "dc3"]


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server: _EchoServer = self.server  # type: ignore[assignment]
        while True:
            try:
                data = self.request.recv(4096)
            except OSError:
                return
            if not data:
                return
            with server.lock:
                server.received.append(data)
            try:
                self.request.sendall(data)
            except OSError:
                return


class _EchoServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.lock = threading.Lock()
        self.received: list[bytes] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def received_bytes(self) -> bytes:
        with self.lock:
            return b"".join(self.received)


@pytest.fixture(scope="module")
def toxiproxy(tmp_path_factory: pytest.TempPathFactory,
              toxiproxy_server: Path) -> Iterator[ToxiproxyServer]:
    server = ToxiproxyServer(log_path=tmp_path_factory.mktemp("toxi") / "toxiproxy.log", seed=1)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def echoes() -> Iterator[dict[str, _EchoServer]]:
    servers = {dc: _EchoServer() for dc in DCS}
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers.values()]
    for thread in threads:
        thread.start()
    try:
        yield servers
    finally:
        for server in servers.values():
            server.shutdown()
            server.server_close()


@pytest.fixture
def wan(toxiproxy: ToxiproxyServer, echoes: dict[str, _EchoServer]) -> Iterator[Wan]:
    wan = Wan(*toxiproxy.api, DCS)
    wan.create_links({dc: s.address for dc, s in echoes.items()}, LATENCY_MS, 0)
    try:
        yield wan
    finally:
        wan.close()


def _connect(address: str) -> socket.socket:
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    return sock


def _round_trip(sock: socket.socket, payload: bytes, timeout: float) -> float | None:
    """Seconds until `payload` echoes back, or None when nothing comes within `timeout`."""
    sock.settimeout(timeout)
    start = time.monotonic()
    sock.sendall(payload)
    got = b""
    try:
        while len(got) < len(payload):
            chunk = sock.recv(4096)
            if not chunk:
                return None
            got += chunk
    except TimeoutError:
        return None
    return time.monotonic() - start


def test_find_binary_prefers_the_environment(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    real = find_toxiproxy_server()
    monkeypatch.setenv("IMFAULT_TOXIPROXY_SERVER", real)
    assert find_toxiproxy_server() == real
    monkeypatch.setenv("IMFAULT_TOXIPROXY_SERVER", str(tmp_path / "nope"))
    with pytest.raises(SetupError, match="IMFAULT_TOXIPROXY_SERVER"):
        find_toxiproxy_server()


def test_missing_binary_says_what_to_do(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("IMFAULT_TOXIPROXY_SERVER", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(SetupError, match="scripts/bootstrap") as info:
        find_toxiproxy_server()
    assert "go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.12.0" in str(info.value)


def test_server_stop_is_by_pid_and_idempotent(tmp_path: Path) -> None:
    server = ToxiproxyServer(log_path=tmp_path / "t.log")
    server.start()
    pid = server.pid
    assert pid is not None and os.path.exists(f"/proc/{pid}")
    server.stop()
    server.stop()
    assert not os.path.exists(f"/proc/{pid}")


def test_every_ordered_pair_has_a_proxy_with_baseline_latency(wan: Wan) -> None:
    assert len(wan.links()) == 6
    sock = _connect(wan.link_address("dc1", "dc2"))
    with sock:
        rtt = _round_trip(sock, b"hello", 5)
    assert rtt is not None
    # one baseline toxic per stream: request and echo each wait LATENCY_MS
    assert 2 * LATENCY_MS / 1000 <= rtt < 2 * LATENCY_MS / 1000 + 0.25
    assert wan.active_faults() == []
    with pytest.raises(UsageError):
        wan.link_address("dc1", "dc1")


def test_blackhole_cuts_exactly_the_grudged_direction(wan: Wan,
                                                      echoes: dict[str, _EchoServer]) -> None:
    wan.apply_grudge({"dc2": ["dc1"]})  # dc2 cannot hear from dc1
    faults = wan.active_faults()
    assert {(f["link"], f["stream"]) for f in faults} == {
        ("dc1->dc2", "upstream"), ("dc2->dc1", "downstream")}
    assert all(f["kind"] == "blackhole" for f in faults)

    # dc1 -> dc2: the request never reaches dc2's server, the connection stays open
    marker = b"from-dc1-%d" % time.monotonic_ns()
    with _connect(wan.link_address("dc1", "dc2")) as sock:
        assert _round_trip(sock, marker, 0.6) is None
    assert marker not in echoes["dc2"].received_bytes()

    # dc2 -> dc1: dc1 hears dc2 (it receives the bytes) but its answer never reaches dc2
    marker2 = b"from-dc2-%d" % time.monotonic_ns()
    with _connect(wan.link_address("dc2", "dc1")) as sock:
        assert _round_trip(sock, marker2, 0.6) is None
    assert marker2 in echoes["dc1"].received_bytes()

    # untouched links keep working
    with _connect(wan.link_address("dc1", "dc3")) as sock:
        assert _round_trip(sock, b"ok", 2) is not None

    # heal: Toxiproxy closes connections that were cut (the timeout toxic's cleanup), new ones
    # carry bytes again
    with _connect(wan.link_address("dc1", "dc2")) as sock:
        assert _round_trip(sock, b"lost", 0.4) is None
        wan.heal()
        assert wan.active_faults() == []
        sock.settimeout(2)
        assert sock.recv(10) == b""
    with _connect(wan.link_address("dc1", "dc2")) as sock:
        assert _round_trip(sock, b"back", 2) is not None


def test_refuse_disables_both_proxies_of_the_pair(wan: Wan) -> None:
    wan.apply_grudge({"dc3": ["dc1"]}, style="refuse")
    assert sorted(f["link"] for f in wan.active_faults()) == ["dc1->dc3", "dc3->dc1"]
    for src, dst in (("dc1", "dc3"), ("dc3", "dc1")):
        with pytest.raises(OSError):
            _connect(wan.link_address(src, dst)).close()
    wan.heal()
    with _connect(wan.link_address("dc1", "dc3")) as sock:
        assert _round_trip(sock, b"again", 2) is not None
    with pytest.raises(UsageError):
        wan.apply_grudge({"dc3": ["dc1"]}, style="sideways")


def test_degrade_latency_then_restore_keeps_partitions(wan: Wan) -> None:
    added = wan.degrade("latency", links=[("dc2", "dc3")], latency=300, jitter=0)
    assert {a["stream"] for a in added} == {"upstream", "downstream"}
    with _connect(wan.link_address("dc2", "dc3")) as sock:
        rtt = _round_trip(sock, b"slow", 5)
    assert rtt is not None and rtt >= (2 * LATENCY_MS + 600) / 1000
    wan.apply_grudge({"dc1": ["dc2"]})
    wan.restore_wan()
    kinds = {f["kind"] for f in wan.active_faults()}
    assert kinds == {"blackhole"}
    wan.heal()
    with _connect(wan.link_address("dc2", "dc3")) as sock:
        rtt = _round_trip(sock, b"fast", 5)
    assert rtt is not None and rtt < (2 * LATENCY_MS + 250) / 1000
    with pytest.raises(UsageError):
        wan.degrade("teleport")


def test_every_degradation_kind_is_accepted_by_the_server(wan: Wan) -> None:
    for kind in ("latency", "bandwidth", "slicer", "reset_peer"):
        wan.degrade(kind, links=[("dc1", "dc2")])
    assert sorted({f["kind"] for f in wan.active_faults()}) == [
        "bandwidth", "latency", "reset_peer", "slicer"]
    wan.restore_wan()
    assert wan.active_faults() == []
    assert proxy_name("dc1", "dc2") == "dc1_to_dc2"
