"""The local backend with real node processes and a real `toxiproxy-server` (2 DCs, one shared
cluster): topology, pids.json, kill/restart on the same port, pause/resume, clock offset, collect,
teardown by pid, and set-up errors that say what went wrong."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness._procs import pid_alive
from harness.backends import ClusterSpec, get_backend
from harness.backends.local import LocalBackend
from harness.errors import SetupError, UsageError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory,
            toxiproxy_server: Path) -> Iterator[LocalBackend]:
    backend = LocalBackend()
    spec = ClusterSpec(dcs=2, access_per_dc=2, wan_latency_ms=20, seed=4,
                       work_dir=tmp_path_factory.mktemp("local"))
    with backend:
        backend.start(spec)
        yield backend


def test_spec_defaults_and_validation(tmp_path: Path) -> None:
    spec = ClusterSpec(seed=9, work_dir=tmp_path)
    assert spec.dc_names == ["dc1", "dc2", "dc3", "dc4", "dc5"]
    assert spec.wan_latency_ms == 200 and spec.gossip == "push+anti-entropy"
    assert spec.secret == ClusterSpec(seed=9, work_dir=tmp_path).secret
    assert spec.secret != ClusterSpec(seed=10, work_dir=tmp_path).secret
    for bad in ({"dcs": 0}, {"gossip": "telepathy"}, {"bugs": ("nope",)},
                {"delivery": "never"}, {"partition_style": "polite"}):
        with pytest.raises(UsageError):
            ClusterSpec(work_dir=tmp_path, **bad)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="unknown backend"):
        get_backend("mainframe")
    assert isinstance(get_backend("local"), LocalBackend)


def test_topology_and_pids(cluster: LocalBackend) -> None:
    names = [n.name for n in cluster.nodes()]
    assert names == ["dc1-hub", "dc2-hub", "dc1-a1", "dc1-a2", "dc2-a1", "dc2-a2"]
    assert cluster.hub("dc2").role == "hub"
    assert {dc: len(a) for dc, a in cluster.access_addresses().items()} == {"dc1": 2, "dc2": 2}
    pids = cluster.pids()
    assert set(pids) == set(names) | {"toxiproxy-server"}
    assert all(pid_alive(p) for p in pids.values())
    assert cluster.spec is not None
    recorded = json.loads((cluster.spec.work_dir / "pids.json").read_text())
    assert recorded["pids"] == pids
    # every hub reaches its peers only through a proxy of the WAN
    hub_argv = " ".join(cluster._argv["dc1-hub"])
    assert f"--peer dc2={cluster.wan.link_address('dc1', 'dc2')}" in hub_argv
    with pytest.raises(UsageError):
        cluster.node("dc9-hub")


def test_kill_then_restart_keeps_port_and_data(cluster: LocalBackend) -> None:
    async def seq_of_dc1() -> int:
        status = await cluster.admin_status("dc1-hub")
        return int((status.get("vv") or {}).get("dc1", 0))

    async def make_update() -> None:
        from imcluster.client import Client

        host, port = cluster.access_addresses()["dc1"][0]
        client = Client(host, port, secret=cluster.secret)
        await client.connect()
        await client.login("kill-test-user")
        await client.close()

    asyncio.run(make_update())
    before = asyncio.run(seq_of_dc1())
    assert before >= 1
    old_pid = cluster.pid("dc1-hub")
    port = cluster.hub("dc1").port
    cluster.kill("dc1-hub")
    assert not cluster.is_running("dc1-hub") and not pid_alive(old_pid)
    with pytest.raises(OSError):
        asyncio.run(cluster.admin_status("dc1-hub", timeout=2))
    cluster.restart("dc1-hub")
    assert cluster.is_running("dc1-hub") and cluster.pid("dc1-hub") != old_pid
    assert cluster.hub("dc1").port == port
    assert asyncio.run(seq_of_dc1()) >= before  # the store came back
    assert cluster.spec is not None
    recorded = json.loads((cluster.spec.work_dir / "pids.json").read_text())
    assert recorded["pids"]["dc1-hub"] == cluster.pid("dc1-hub")


def test_pause_freezes_and_resume_unfreezes(cluster: LocalBackend) -> None:
    cluster.pause("dc2-a1")
    try:
        assert cluster.is_running("dc2-a1")
        with pytest.raises((TimeoutError, asyncio.TimeoutError)):
            asyncio.run(cluster.admin_status("dc2-a1", timeout=1))
    finally:
        cluster.resume("dc2-a1")
    assert asyncio.run(cluster.admin_status("dc2-a1"))["health"] == "ok"


def test_clock_offset_is_reported(cluster: LocalBackend) -> None:
    asyncio.run(cluster.set_clock("dc2-hub", 30_000))
    assert asyncio.run(cluster.admin_status("dc2-hub"))["clock_offset_ms"] == 30_000
    asyncio.run(cluster.set_clock("dc2-hub", 0))
    assert asyncio.run(cluster.admin_status("dc2-hub"))["clock_offset_ms"] == 0


def test_collect_copies_logs_and_names_event_logs(cluster: LocalBackend, tmp_path: Path) -> None:
    event_logs = cluster.collect(tmp_path)
    assert sorted(event_logs) == ["dc1", "dc2"]
    assert all(path.exists() for path in event_logs.values())
    logs = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert "dc1-hub.log" in logs and "dc2-a2.log" in logs and "toxiproxy.log" in logs
    first = json.loads(event_logs["dc1"].read_text().splitlines()[0])
    assert first["event"] in ("originate", "apply")


def test_stop_ends_every_process(tmp_path: Path, toxiproxy_server: Path) -> None:
    with LocalBackend() as backend:  # stopped by pid also if an assertion fails
        backend.start(ClusterSpec(dcs=1, wan_latency_ms=0, work_dir=tmp_path))
        pids = list(backend.pids().values())
        assert len(pids) == 3
        backend.stop()
        backend.stop()
        assert not any(pid_alive(p) for p in pids)
        assert not (tmp_path / "pids.json").exists()


def test_stop_stops_every_process_even_when_one_fails_to_stop(tmp_path: Path,
                                                              toxiproxy_server: Path) -> None:
    backend = LocalBackend()
    backend.start(ClusterSpec(dcs=1, wan_latency_ms=0, work_dir=tmp_path))
    pids = backend.pids()
    stubborn = backend._children["dc1-a1"]  # the first one stop() visits

    def refuse(grace: float = 3.0) -> None:
        raise OSError("injected: cannot signal dc1-a1")

    stubborn.stop = refuse  # type: ignore[method-assign]
    try:
        with pytest.raises(SetupError, match="dc1-a1: OSError: injected"):
            backend.stop()
        assert {name for name, pid in pids.items() if pid_alive(pid)} == {"dc1-a1"}
        left = json.loads((tmp_path / "pids.json").read_text())["pids"]
        assert left == {"dc1-a1": pids["dc1-a1"]}  # kept for `imfault clean`
    finally:
        del stubborn.stop
        stubborn.stop()
    assert not pid_alive(pids["dc1-a1"])


def test_a_node_that_dies_at_start_is_a_setup_error_with_its_log(tmp_path: Path,
                                                                 toxiproxy_server: Path) -> None:
    fake_python = tmp_path / "python"
    fake_python.write_text("#!/bin/sh\necho 'node refuses to start: disk on fire' >&2\nexit 3\n")
    fake_python.chmod(fake_python.stat().st_mode | stat.S_IXUSR)
    backend = LocalBackend(python=str(fake_python), ready_timeout=10)
    with pytest.raises(SetupError, match="disk on fire"):
        backend.start(ClusterSpec(dcs=2, wan_latency_ms=0, work_dir=tmp_path / "w"))
    assert backend.pids() == {}
    toxiproxy = backend._toxiproxy
    assert toxiproxy is not None and toxiproxy.pid is not None
    assert not pid_alive(toxiproxy.pid)
    assert not os.path.exists(tmp_path / "w" / "pids.json")
