"""`imfault bench convergence`: the engine on small N against the theory, its outputs, and
`--gossip-fanout` reaching the hubs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness._cli_bench import FIELDS
from harness.backends._base import ClusterSpec
from harness.bench._convergence import measure, theory_rounds
from harness.cli import main


def test_flood_push_takes_one_round_and_n_minus_one_frames() -> None:
    row = measure(10, "push", trials=5, seed=1)
    assert (row.mean_rounds, row.max_rounds, row.frames_per_update) == (1, 1, 9)


@pytest.mark.parametrize("mode", ["rumor-push", "rumor-pull", "rumor-push-pull"])
def test_rumor_modes_on_ten_dcs_are_near_their_theory(mode: str) -> None:
    row = measure(10, mode, trials=60, seed=2)
    assert row.unconverged == 0
    theory = theory_rounds(mode, 10)
    assert theory is not None and abs(row.mean_rounds / theory - 1) < 0.2
    assert row.frames_per_update > 9 and row.bytes_per_update > 0


def test_fanout_speeds_up_rumor_push() -> None:
    one = measure(30, "rumor-push", fanout=1, trials=40, seed=3)
    three = measure(30, "rumor-push", fanout=3, trials=40, seed=3)
    assert three.mean_rounds < one.mean_rounds


@pytest.mark.parametrize(("dcs", "mode", "fanout"), [(5, "rumor-push", 1), (10, "rumor-pull", 1),
                                                    (20, "rumor-push-pull", 2)])
def test_lean_loop_gives_the_general_drivers_rows(dcs: int, mode: str, fanout: int) -> None:
    """`RumorNet` (slots per instant, ignored frames not handed over) is only a faster clock:
    the same rows as `_Net`, which hands every frame to the core through a heap."""
    lean, heap = (measure(dcs, mode, fanout, trials=30, seed=5, engine=e).to_json()
                  for e in ("lean", "heap"))
    for row in (lean, heap):
        row.pop("wall_s"), row.pop("cpu_s")
    assert lean == heap


def test_rows_do_not_depend_on_jobs() -> None:
    one, two = (measure(10, "rumor-push-pull", trials=120, seed=6, jobs=j).to_json()
                for j in (1, 2))
    for row in (one, two):
        row.pop("wall_s"), row.pop("cpu_s")
    assert one == two and one["trials"] == 120


def test_same_seed_same_row() -> None:
    a, b = (measure(10, "rumor-pull", trials=20, seed=9) for _ in range(2))
    assert (a.mean_rounds, a.frames_per_update) == (b.mean_rounds, b.frames_per_update)


def test_cli_writes_json_csv_and_plot(tmp_path: Path) -> None:
    code = main(["bench", "convergence", "--dcs", "3,5", "--gossip", "rumor-push,push",
                 "--trials", "10", "--seed", "4", "--out", str(tmp_path)])
    assert code == 0
    rows = json.loads((tmp_path / "convergence.json").read_text())
    assert [(r["dcs"], r["gossip"]) for r in rows] == [(3, "rumor-push"), (5, "rumor-push"),
                                                      (3, "push"), (5, "push")]
    assert list(rows[0])[:len(FIELDS)] == list(FIELDS)
    assert (tmp_path / "convergence.csv").read_text().startswith(",".join(FIELDS))
    svg = (tmp_path / "convergence.svg").read_text()
    assert svg.startswith("<svg") and "seed: 5 DCs" in svg
    assert "<svg" in (tmp_path / "convergence.html").read_text()


def test_cli_fanout_list_gives_a_row_per_fanout(tmp_path: Path) -> None:
    code = main(["bench", "convergence", "--dcs", "10", "--gossip", "rumor-push",
                 "--fanout", "1,3", "--trials", "10", "--seed", "4", "--out", str(tmp_path)])
    assert code == 0
    rows = json.loads((tmp_path / "convergence.json").read_text())
    assert [(r["fanout"], r["backend"]) for r in rows] == [(1, "sim"), (3, "sim")]
    assert "rumor-push K=3" in (tmp_path / "convergence.svg").read_text()


def test_cli_rejects_unknown_mode_and_bad_sizes() -> None:
    assert main(["bench", "convergence", "--backend", "local", "--dcs", "5,30"]) == 2
    assert main(["bench", "convergence", "--fanout", "0"]) == 2
    assert main(["bench", "convergence", "--gossip", "gossipy"]) == 2
    assert main(["bench", "convergence", "--dcs", "1"]) == 2
    assert main(["bench", "convergence", "--dcs", "a,b"]) == 2


def test_gossip_fanout_reaches_sim_hubs_and_hub_cli() -> None:
    from harness.sim._backend import SimBackend

    backend = SimBackend()
    backend.start(ClusterSpec(dcs=3, gossip="rumor-push-pull", gossip_fanout=2))
    try:
        assert backend.cluster is not None
        assert {c.gossip_fanout for c in backend.cluster.configs.values()} == {2}
    finally:
        backend.stop()
    with pytest.raises(Exception, match="gossip-fanout"):
        ClusterSpec(dcs=3, gossip="rumor-push", gossip_fanout=0)
    out = subprocess.run([sys.executable, "-m", "imcluster", "hub", "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--gossip-fanout" in out


def test_pytest_plugin_takes_rumor_mode_and_fanout_to_the_cluster_spec() -> None:
    from harness._pytest_run import cluster_spec_fields, make_run_options, run_fields_of_spec

    options = make_run_options({}, {"gossip": "rumor-pull", "gossip_fanout": 2})
    fields = cluster_spec_fields(options)
    assert (fields["gossip"], fields["gossip_fanout"]) == ("rumor-pull", 2)
    spec = ClusterSpec(**fields)
    assert run_fields_of_spec(spec)["gossip_fanout"] == 2
