"""`--system mosquitto` on the local backend: real brokers (Debian's mosquitto), real bridges
through real toxiproxy-server. A no-fault run is valid; partitions hold (no cross-cut receipt
before the heal) with every link verified; a bridge pointed around the WAN is caught (exit 4)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cross_cut import cross_cut_receipts

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
RUN = ["run", "--system", "mosquitto", "--dcs", "3", "--users", "10", "--rate", "10",
       "--wan-latency", "50", "--recovery-timeout", "30", "--seed", "11", "--no-progress"]


@pytest.fixture(autouse=True)
def _needs_mosquitto(toxiproxy_server: Path) -> None:
    if not (shutil.which("mosquitto") or os.access("/usr/sbin/mosquitto", os.X_OK)):
        pytest.skip("mosquitto is not installed: apt-get install mosquitto")


def _run(spawn, store: Path, *args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    proc = spawn([sys.executable, "-m", "harness", *RUN, "--store", str(store), *args],
                 cwd=REPO, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=180)
    return proc.returncode, out, err


def _latest(store: Path, name: str) -> Path:
    return max((store / name).glob("2*"))


def test_no_fault_run_is_valid(spawn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(spawn, tmp_path, "--time-limit", "5")
    assert code == 0, out + err
    run_dir = _latest(tmp_path, "noop")
    results = json.loads((run_dir / "results.json").read_text())
    assert results["convergence"]["applicable"] is False
    test = json.loads((run_dir / "test.json").read_text())
    assert test["system"] == "mosquitto" and test["guarantees"]["replicated_state"] is False
    assert [c["at"] for c in test["link_checks"]] == ["setup"]


@pytest.mark.parametrize("nemesis", ["partition-halves", "partition-oneway"])
def test_partition_holds_and_every_link_is_verified(spawn, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                    nemesis: str) -> None:
    code, out, err = _run(spawn, tmp_path, "--time-limit", "8", "--nemesis", nemesis,
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


def test_a_bridge_around_the_wan_fails_the_run_with_exit_4(spawn, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    code, out, err = _run(spawn, tmp_path, "--time-limit", "2",
                          env={"IMFAULT_UNSAFE_DIRECT_LINKS": "dc1->dc2"})
    assert code == 4, out + err
    assert "bypassed the WAN" in err and "setup: dc1->dc2: pid" in err
