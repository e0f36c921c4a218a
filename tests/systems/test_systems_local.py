"""`--system mosquitto` and `--system nats` on the local backend: real brokers/servers (Debian's
mosquitto, nats-server built by scripts/bootstrap), real bridges/gateways through real
toxiproxy-server. A no-fault run is valid; partitions hold (no cross-cut receipt before the heal)
with every link verified; traffic around the WAN is caught (exit 4): a mosquitto bridge pointed
at the peer broker, and NATS gateways left unisolated, which reconnect to the addresses their
peers gossip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cross_cut import cross_cut_receipts

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
SYSTEMS = ["mosquitto", "nats"]
RUN = ["run", "--dcs", "3", "--users", "10", "--rate", "10",
       "--wan-latency", "50", "--recovery-timeout", "30", "--seed", "11", "--no-progress"]


def _needs(system: str) -> None:
    from harness.errors import SetupError
    from harness.systems import get_system

    try:
        get_system(system).check_installed("local")
    except SetupError as exc:
        if os.environ.get("CI", "").lower() in ("true", "1"):
            pytest.fail(f"--system {system} cannot run here: {exc}", pytrace=False)
        pytest.skip(str(exc))


def _run(spawn, store: Path, system: str, *args: str,  # type: ignore[no-untyped-def]
         env: dict[str, str] | None = None):
    _needs(system)
    proc = spawn([sys.executable, "-m", "harness", *RUN, "--system", system, "--store",
                  str(store), *args],
                 cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def _latest(store: Path, name: str) -> Path:
    return max((store / name).glob("2*"))


@pytest.mark.parametrize("system", SYSTEMS)
def test_no_fault_run_is_valid(spawn, tmp_path: Path, toxiproxy_server: Path,  # type: ignore[no-untyped-def]
                               system: str) -> None:
    code, out, err = _run(spawn, tmp_path, system, "--time-limit", "5")
    assert code == 0, out + err
    run_dir = _latest(tmp_path, "noop")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["convergence"]["applicable"] is False
    test = json.loads((run_dir / "test.json").read_text())
    assert test["system"] == system and test["guarantees"]["replicated_state"] is False
    assert [c["at"] for c in test["link_checks"]] == ["setup"]


@pytest.mark.parametrize(("system", "nemesis"), [("mosquitto", "partition-halves"),
                                               ("mosquitto", "partition-oneway"),
                                               ("nats", "partition-oneway")])
def test_partition_holds_and_every_link_is_verified(spawn, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    toxiproxy_server: Path, system: str,
                                                    nemesis: str) -> None:
    code, out, err = _run(spawn, tmp_path, system, "--time-limit", "8", "--nemesis", nemesis,
                          "--nemesis-interval", "3")
    assert code in (0, 1, 3), out + err  # the verdict is the system's (see the system's doc)
    run_dir = _latest(tmp_path, nemesis)
    test = json.loads((run_dir / "test.json").read_text())
    checks = test["link_checks"]
    assert checks[0]["at"] == "setup" and any(c["at"] == "after stop-partition" for c in checks)
    assert all(c["bypasses"] == [] for c in checks)
    cut = cross_cut_receipts(run_dir)
    assert cut["windows"] >= 1 and cut["sent"], cut  # messages were sent across the cut ...
    assert cut["early"] == [], cut  # ... and none crossed it before the heal


def test_the_pytest_plugin_runs_a_scenario_against_nats(im_run, toxiproxy_server: Path) -> None:  # type: ignore[no-untyped-def]
    """`im_run(system="nats")` (as `--im-system nats` does for every run): partition-halves
    holds, every link verified, the verdict is the system's (docs/systems/nats.md)."""
    _needs("nats")
    result = im_run("partition-halves", system="nats", dcs=3, users=10, rate=10, time_limit=8,
                    nemesis_interval=3, wan_latency=50, recovery_timeout=60)
    test = json.loads((result.run_dir / "test.json").read_text())
    assert test["system"] == "nats"
    assert all(c["bypasses"] == [] for c in test["link_checks"])
    assert any(c["at"] == "after stop-partition" for c in test["link_checks"])
    cut = cross_cut_receipts(result.run_dir)
    assert cut["sent"] and cut["early"] == [], cut
    result.assert_valid()


def test_a_bridge_around_the_wan_fails_the_run_with_exit_4(spawn, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                           toxiproxy_server: Path) -> None:
    code, out, err = _run(spawn, tmp_path, "mosquitto", "--time-limit", "2",
                          env={"IMFAULT_UNSAFE_DIRECT_LINKS": "dc1->dc2"})
    assert code == 4, out + err
    assert "bypassed the WAN" in err and "setup: dc1->dc2: pid" in err


def test_unisolated_nats_gateways_gossip_their_way_around_the_wan_exit_4(  # type: ignore[no-untyped-def]
        spawn, tmp_path: Path, toxiproxy_server: Path) -> None:
    """Three refused partitions: each reconnecting gateway picks one of its peer's URLs, the
    configured proxy or the real address the peer gossiped; one of 4 x 3 picks going direct is
    enough (all 12 choosing the proxy at 1/2 each: 1 run in 4096)."""
    code, out, err = _run(spawn, tmp_path, "nats", "--time-limit", "9", "--nemesis",
                          "partition-one", "--nemesis-interval", "1.5", "--partition-style",
                          "refuse", env={"IMFAULT_UNSAFE_NO_ISOLATION": "1"})
    assert code == 4, out + err
    assert "bypassed the WAN" in err and "after stop-partition: dc" in err
