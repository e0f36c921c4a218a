"""`imfault explore` on sim: the search finds a seeded bug and shrinks it (through the
`im_explore` fixture), writes a replayable minimal run, and the CLI's usage errors and exit codes.
Examples are tiny (3 DCs, a few users, seconds of virtual time), so each costs a fraction of a
second."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from harness._cli_run import options_from_args
from harness.cli import build_parser, main
from harness.explore import Confirmation, reason_of
from harness.explore._search import verdict_of
from harness.runner import run_test


def test_gateway_drop_is_found_and_shrunk_to_a_replayable_run(im_explore: Any,
                                                                tmp_path: Path) -> None:
    result = im_explore(bug="gateway-drop", examples=60, users=6, time_limit=4, seed=1, fail=False,
                        store=str(tmp_path))
    assert result.found and result.exit_code == 1
    assert result.reason.startswith("delivery(lost")
    summary = json.loads((result.run_dir / "explore.json").read_text())
    assert summary["fault_ops_after_shrinking"] <= min(3, summary["fault_ops_before_shrinking"])
    assert summary["minimal"]["users"] <= summary["first_failure"]["users"]
    assert summary["offending"]["lost"] == result.results["delivery"]["lost"][:20]
    schedule = json.loads((result.run_dir / "schedule.json").read_text())
    assert len(schedule["ops"]) == summary["fault_ops_after_shrinking"]
    # the printed sim replay command reproduces the verdict for the same reason
    argv = shlex.split(result.replay["sim"])[1:]
    assert argv[0] == "run" and "--schedule" in argv and "local" in result.replay["local"]
    replayed = run_test(options_from_args(build_parser().parse_args(argv)))
    assert verdict_of(replayed.results) is False
    assert reason_of(replayed.results) == result.reason
    assert "replay on local: imfault run --backend local" in result.describe()
    # the last counterexample is kept under the store and a rerun tries it first
    assert list((tmp_path / ".hypothesis" / "explore").glob("*.json"))
    again = im_explore(bug="gateway-drop", examples=60, users=6, time_limit=4, fail=False,
                       store=str(tmp_path))
    assert again.found and again.state.examples == 1 and again.example == result.example


def test_a_search_of_the_correct_cluster_finds_nothing(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["explore", "--nemesis", "partition-one,kill,clock-skew", "--examples", "8",
                 "--users", "4", "--time-limit", "3", "--seed", "3", "--store", str(tmp_path),
                 "--no-progress"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "no invalid run in" in out
    assert not any(p.name == "explore.json" for p in tmp_path.rglob("*"))


@pytest.mark.parametrize(("argv", "message"), [
    (["--backend", "local"], "runs on --backend sim"),
    (["--nemesis", "partition-ring"], "needs at least 4 DCs"),
    (["--nemesis", "nosuch"], "unknown nemesis"),
    (["--examples", "0"], "--examples must be at least 1"),
    (["--time-budget", "-1"], "--time-budget must be positive"),
    (["--schedule", "x.json"], "explore draws schedules"),
    (["--confirm-on", "sim"], "--confirm-on takes a real backend"),
    (["--confirm-on", "nosuch"], "--confirm-on takes a real backend"),
])
def test_usage_errors(argv: list[str], message: str, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explore", "--store", str(tmp_path), *argv]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("confirmation", "says"), [
    (Confirmation("local", False, "convergence", Path("r")),
     "confirmed on local: INVALID (convergence), as on sim; run directory: r"),
    (Confirmation("docker", False, "routing", Path("r")),
     "confirmed on docker: INVALID, but for another reason (routing; sim: convergence)"),
    (Confirmation("local", True, "", Path("r")), "not reproduced on local: valid; a timing"),
    (Confirmation("local", "unknown", "", Path("r")), "not reproduced on local: unknown"),
    (Confirmation("local", None, error="partition-node needs the docker or sim backend"),
     "not confirmed on local: the replay could not run (partition-node needs"),
])
def test_a_confirmation_says_whether_the_real_backend_agreed(confirmation: Confirmation,
                                                             says: str) -> None:
    assert confirmation.describe("convergence").startswith(says)
    assert confirmation.to_json()["reproduced"] is (confirmation.verdict is False)
