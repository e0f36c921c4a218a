"""The systems registry, `imfault systems`, `--system` validation, link scanning on real sockets
and the runner's link checks (no cluster started: fast)."""

from __future__ import annotations

import json
import os
import socket

import pytest

from harness import cli
from harness.errors import SetupError, UsageError
from harness.runner import LinkChecks
from harness.systems import available_systems, get_system, system_names
from harness.systems._links import local_bypasses, outgoing_ports
from harness.systems.imcluster import ImclusterSystem


def test_builtins_are_listed_with_guarantees(capsys: pytest.CaptureFixture[str]) -> None:
    assert system_names()[:2] == ["imcluster", "mosquitto"]
    assert isinstance(get_system(), ImclusterSystem)
    catalogue = available_systems()
    assert catalogue["mosquitto"]["guarantees"]["durable_ack"] is False  # type: ignore[index]
    assert cli.main(["systems", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["imcluster"]["backends"] == ["local", "docker", "sim", "swarm"]
    assert cli.main(["systems"]) == 0
    assert "guarantees: durable_ack=True" in capsys.readouterr().out


def test_unknown_system_and_unsupported_backend_are_usage_errors(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="known systems: imcluster, mosquitto"):
        get_system("kafka")
    assert cli.main(["run", "--system", "kafka", "--store", "/nonexistent/x"]) == 2
    assert "unknown --system 'kafka'" in capsys.readouterr().err
    assert cli.main(["run", "--system", "mosquitto", "--backend", "sim"]) == 2
    assert "runs on --backend local" in capsys.readouterr().err


def test_a_connection_into_another_dcs_port_is_a_bypass() -> None:
    """Real sockets: this process plays a node of dc1 connected straight to a port of dc2."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = server.accept()
            with accepted:
                local = client.getsockname()[1]
                assert port in outgoing_ports(os.getpid(), {12345})
                found = local_bypasses({"dc1": [os.getpid()]}, {"dc1": {12345}, "dc2": {port}},
                                       {"dc1->dc2": 4242})
                assert found == [(f"dc1->dc2: pid {os.getpid()} of dc1 is connected to port "
                                 f"{port} of dc2 directly, not through the WAN (its proxy "
                                 "listens on port 4242)")]
                assert local != port
                # the same connection seen from the listening DC is not outgoing
                assert local_bypasses({"dc2": [os.getpid()]}, {"dc2": {port}}) == []


class _Bypassing(ImclusterSystem):
    def verify_links(self, backend: object) -> list[str]:  # type: ignore[override]
        return ["dc1->dc2: test"]


def test_link_checks_record_and_a_bypass_fails_with_a_setup_error() -> None:
    checks = LinkChecks(_Bypassing())
    checks.verify_later(None, "after stop-partition", 7)  # in a worker thread
    checks.wait()
    assert checks.checks == [{"at": "after stop-partition", "time": 7,
                              "bypasses": ["dc1->dc2: test"]}]
    with pytest.raises(SetupError, match="after stop-partition: dc1->dc2: test"):
        checks.raise_bypass()


def test_nats_on_the_local_backend_is_refused_without_root(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.systems.nats._local import NO_ISOLATION_ENV, isolation_problem

    monkeypatch.delenv(NO_ISOLATION_ENV, raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "needs root to isolate the DCs" in str(isolation_problem())
    monkeypatch.setenv(NO_ISOLATION_ENV, "1")
    assert isolation_problem() is None
