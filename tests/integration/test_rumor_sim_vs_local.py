"""Issue 13: the sim bench's convergence time for 5 DCs in `rumor-push` agrees within 10 % with
real processes (`--backend local`, real Toxiproxy WAN) run in the same mode."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bench._convergence import measure

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_rumor_push_five_dcs_sim_and_local_agree(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "harness", "run", "--backend", "local", "--dcs", "5",
                    "--gossip", "rumor-push", "--gossip-interval", "200", "--wan-latency", "50",
                    "--time-limit", "10", "--users", "20", "--rate", "10", "--seed", "1",
                    "--store", str(tmp_path)], check=True, timeout=240,
                   stdout=subprocess.DEVNULL)
    results = json.loads(next(tmp_path.glob("*/*/results.json")).read_text())
    local = results["convergence"]
    assert local["valid"] is True and local["unconverged_count"] == 0 and local["converged"] > 50
    sim = measure(5, "rumor-push", trials=200, interval_ms=200, latency_ms=50, seed=1)
    # both from the origination to the last DC's apply, in ms (the checker's rounds are ms / 200)
    assert abs(local["mean_ms"] / sim.mean_ms - 1) < 0.10, (local["mean_ms"], sim.mean_ms)
