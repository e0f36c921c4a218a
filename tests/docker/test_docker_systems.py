"""`--system nats` and `--system mosquitto` on the docker backend: server containers built on the
local base image (the harness's nats-server, Debian's mosquitto), one DC network each, gateways
and bridges through the Toxiproxy container. Per system, three runs side by side (to keep CI time
down): a no-fault run at 2 DCs is valid, and in a partition-halves and a partition-oneway run at
3 DCs every link check passes and no message crosses the cut before the heal, though some were
sent across it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.systems.cross_cut import cross_cut_receipts

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]
RUN = ["run", "--backend", "docker", "--users", "10", "--rate", "20", "--wan-latency", "50",
       "--seed", "11", "--no-progress"]
RECOVERY = {"none": "10", "partition": "60"}
"""Recovery bounds (recovery ends as soon as the system reports itself converged). A NATS
aggregate may resume sourcing a cut-off outbox ~40 s after the heal (docs/systems/nats.md): with
a 10 s bound the messages sent across the cut had not arrived when a CI run ended, and the test
could not see that they had been held back rather than never sent. The partition runs' verdicts
are not asserted (the system's, see its doc)."""


def _start(spawn: Callable[..., Any], store: Path, system: str, *args: str) -> Any:
    return spawn([sys.executable, "-m", "harness", *RUN, "--system", system, "--store",
                  str(store), *args], docker=True, env=dict(os.environ),
                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.parametrize("system", ["nats", "mosquitto"])
def test_no_fault_valid_and_partitions_hold(docker_engine: None, spawn: Callable[..., Any],
                                                   tmp_path: Path, system: str) -> None:
    no_fault = _start(spawn, tmp_path / "a", system, "--dcs", "2", "--time-limit", "3",
                      "--recovery-timeout", RECOVERY["none"])
    partitions = {nemesis: _start(spawn, tmp_path / nemesis, system, "--dcs", "3",
                                  "--time-limit", "6", "--nemesis", nemesis,
                                  "--nemesis-interval", "2",
                                  "--recovery-timeout", RECOVERY["partition"])
                  for nemesis in ("partition-halves", "partition-oneway")}
    out_a, _ = no_fault.communicate(timeout=240)
    outs = {nemesis: run.communicate(timeout=240)[0] for nemesis, run in partitions.items()}

    assert no_fault.returncode == 0, out_a
    run_dir = max((tmp_path / "a" / "noop").glob("2*"))
    test = json.loads((run_dir / "test.json").read_text())
    assert (test["system"], test["backend"]) == (system, "docker")
    assert test["link_checks"] == [{"at": "setup", "time": test["link_checks"][0]["time"],
                                    "bypasses": []}]
    assert {p.stem for p in (run_dir / "logs").glob("*.log")} >= {"toxiproxy", "dc1-" + (
        "server" if system == "nats" else "broker")}

    for nemesis, run in partitions.items():
        # the verdict is the system's (its doc)
        assert run.returncode in (0, 1, 3), outs[nemesis]
        run_dir = max((tmp_path / nemesis / nemesis).glob("2*"))
        checks = json.loads((run_dir / "test.json").read_text())["link_checks"]
        assert checks[0]["at"] == "setup", checks
        assert any(c["at"] == "after stop-partition" for c in checks), checks
        assert all(c["bypasses"] == [] for c in checks), checks
        cut = cross_cut_receipts(run_dir)
        assert cut["windows"] >= 1 and cut["sent"], (nemesis, cut)  # sent across the cut ...
        assert cut["early"] == [], (nemesis, cut)  # ... and none crossed it before the heal


def test_a_server_on_another_dcs_network_is_a_bypass(docker_engine: None,
                                                     tmp_path: Path) -> None:
    """Isolation turned off on purpose: dc1's server joined to dc2's network could reach dc2
    around the WAN, and the link check names it; detached again, the check passes."""
    from harness.backends._base import ClusterSpec
    from harness.systems import get_system

    backend: Any = get_system("mosquitto").make_backend("docker")
    try:
        backend.start(ClusterSpec(work_dir=tmp_path, dcs=2, seed=3))
        assert backend.bypasses() == []
        network = backend._client.networks.get(backend._networks["dc2"])
        container = backend._container("dc1-broker")
        network.connect(container.id)
        found = backend.bypasses()
        assert len(found) == 1 and found[0].startswith("dc1->dc2: dc1-broker is attached to "
                                                       "network imfault-"), found
        network.disconnect(container.id)
        assert backend.bypasses() == []
    finally:
        backend.stop()
