"""`imfault campaign` on sim: the matrix it plans, a small campaign in two worker processes with
its campaign.json and campaign.html (every run linked), and --expect's exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from harness.cli import main
from harness.errors import UsageError
from harness.explore import BUG_FAULTS
from harness.explore._campaign import Cell, cell_stats, expectation_failures, plan_cells

CATALOGUE = ["partition-one", "kill"]


def test_plan_cells() -> None:
    assert plan_cells(["all"], [], CATALOGUE) == [Cell(()), Cell(("partition-one",)),
                                                  Cell(("kill",))]
    bugs = plan_cells([], ["all"], CATALOGUE)
    assert [c.bug for c in bugs] == list(BUG_FAULTS)
    assert bugs[0].nemesis == ("partition-one", "kill")
    assert dict(bugs[4].overrides) == {"roam": 0.6, "exactly_once": True}
    cross = plan_cells(["partition-one,kill", "noop"], ["volatile-store", "none"], CATALOGUE)
    assert [c.name for c in cross] == ["partition-one+kill--volatile-store",
                                       "partition-one+kill--clean", "noop--volatile-store",
                                       "noop--clean"]
    with pytest.raises(UsageError, match="--bug must be one of"):
        plan_cells([], ["nosuch"], CATALOGUE)
    with pytest.raises(UsageError, match="at least one --nemesis or --bug"):
        plan_cells([], [], CATALOGUE)


def test_expectations() -> None:
    runs = [{"seed": s, "verdict": v, "lost": 1 if v == "invalid" else 0,
             "convergence_p50_ms": 200.0, "convergence_p99_ms": 200.0 + s}
            for s, v in enumerate(["invalid"] * 19 + ["valid"])]
    stats = cell_stats(runs)
    assert stats["invalid_pct"] == 95.0 and stats["lost"] == 19
    assert stats["convergence_p50_ms"] == 200.0 and stats["convergence_p99_ms"] == 219.0
    cells = [{"name": "x--gateway-drop", "bug": "gateway-drop", "stats": stats}]
    assert expectation_failures(cells, "caught", 0.95) == []
    assert expectation_failures(cells, "caught", 0.96)
    assert expectation_failures(cells, "clean", 0.95)


SMALL = ["--backend", "sim", "--seeds", "2", "--dcs", "3", "--users", "8", "--rate", "10",
         "--time-limit", "5", "--nemesis-interval", "1.5", "--recovery-timeout", "20",
         "--seed", "5", "--workers", "2", "--no-progress"]


def test_a_small_campaign_in_two_workers(tmp_path: Path) -> None:
    code = main(["campaign", *SMALL, "--bug", "volatile-store", "--bug", "gateway-drop",
                 "--expect", "caught", "--min-caught", "0.5", "--store", str(tmp_path)])
    campaign = (tmp_path / "campaign" / "latest").resolve()
    document = json.loads((campaign / "campaign.json").read_text())
    assert code == 0, document["expectation_failures"]
    assert document["seeds"] == [5, 6] and document["workers"] == 2
    assert [c["name"] for c in document["cells"]] == ["partition-one+kill--volatile-store",
                                                      "partition-one--gateway-drop"]
    page = (campaign / "campaign.html").read_text()
    for cell in document["cells"]:
        assert [r["seed"] for r in cell["runs"]] == [5, 6]
        for run in cell["runs"]:
            assert (campaign / run["run"] / "report.html").is_file()
            assert f'href="{quote(run["run"])}/report.html"' in page
    assert (campaign / "runs" / "index.html").is_file()
    # the same bug cells fail --expect clean (exit 1)
    assert main(["campaign", *SMALL, "--seeds", "1", "--bug", "volatile-store", "--expect",
                 "clean", "--store", str(tmp_path / "again")]) == 1


def test_campaign_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["campaign", "--backend", "sim", "--dcs", "3", "--nemesis", "partition-ring",
                 "--store", str(tmp_path)]) == 2
    assert "needs at least 4 DCs" in capsys.readouterr().err
    assert main(["campaign", "--seeds", "0", "--bug", "all", "--store", str(tmp_path)]) == 2
    # a cell the backend cannot fault is refused before the first run (was: one broken run, exit
    # 4, per seed), as `imfault run` refuses it
    assert main(["campaign", "--backend", "local", "--nemesis", "partition-one", "--nemesis",
                 "partition-node", "--seeds", "3", "--store", str(tmp_path / "local")]) == 2
    err = capsys.readouterr().err
    assert "cell partition-node--clean: nemesis 'partition-node' needs the docker or sim" in err
    assert not (tmp_path / "local").exists()


def test_an_invalid_run_without_a_bug_is_listed_with_its_replay_commands(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--delivery online-first` (unsafe by design) loses a message handed to a session as it
    logs out to roam: seed 5000 of this cell does, on sim, every time."""
    code = main(["campaign", "--backend", "sim", "--bug", "none", "--delivery", "online-first",
                 "--nemesis", "noop", "--dcs", "5", "--access-per-dc", "2", "--seeds", "1",
                 "--seed", "5000", "--roam", "0.5", "--time-limit", "60", "--exactly-once",
                 "--store", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "invalid without a bug: noop--clean seed 5000: delivery" in out
    run_dir = next(tmp_path.glob("campaign/2*/runs/noop--clean/2*/schedule.json")).parent
    assert f"  run directory: {run_dir}\n" in out
    local = next(line for line in out.splitlines() if line.startswith("  replay on local: "))
    assert local.endswith(f"--schedule {run_dir / 'schedule.json'}")
    assert "--delivery online-first" in local and "--seed 5000" in local
