"""The runner's nemesis checks (issue 16, item 5), on both runners: a nemesis that cannot fault
the cluster's shape is refused (exit 2) before the run directory exists or any process starts,
and every nemesis runs inside `validate`, whose protocol breaches `results.json` lists."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from harness._cli_run import options_from_args
from harness.backends.local import LocalBackend
from harness.cli import build_parser, main
from harness.history import read_history
from harness.nemesis import Nemesis, NemesisContext
from harness.nemesis._registry import BUILTIN_NEMESES
from harness.runner import run_test
from harness.sim import SimBackend


@pytest.mark.parametrize("argv, fragment", [
    (["--backend", "local", "--dcs", "1", "--nemesis", "partition-halves"],
     "partition-halves needs at least 2 DCs"),
    (["--backend", "local", "--dcs", "3", "--nemesis", "kill,partition-ring"],
     "partition-ring needs at least 4 DCs"),
    (["--backend", "local", "--dcs", "2", "--nemesis", "partition-node"],
     "needs the docker or sim backend"),
    (["--backend", "sim", "--dcs", "1", "--nemesis", "wan-degrade"],
     "wan-degrade needs at least 2 DCs"),
])
def test_a_nemesis_refusing_the_cluster_stops_the_run_before_anything_starts(
        argv: list[str], fragment: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []

    def start(self: Any, spec: Any) -> None:  # the only way either backend starts anything
        started.append(type(self).__name__)
        raise AssertionError("the backend was started")

    monkeypatch.setattr(LocalBackend, "start", start)
    monkeypatch.setattr(SimBackend, "start", start)
    store = tmp_path / "store"
    assert main(["run", "--store", str(store), "--no-progress", *argv]) == 2
    assert fragment in capsys.readouterr().err
    assert started == [], "no backend was started"
    assert not store.exists() or not any(store.iterdir()), "no run directory was made"


class MislabellingNemesis(Nemesis):
    """Breaks the protocol on purpose: every stop op completes as if it were a start."""

    name = "mislabelling"
    help = "completes its stops with the start's f (a protocol breach, for tests)"
    fs = frozenset({"start-mislabel", "stop-mislabel"})
    start_f = "start-mislabel"
    stop_f = "stop-mislabel"

    def apply(self, ctx: NemesisContext, f: str, value: dict[str, Any]) -> dict[str, Any]:
        return value

    def invoke(self, ctx: NemesisContext, op: Any) -> Any:
        done = super().invoke(ctx, op)
        if done.f != self.stop_f:
            return done
        return done.with_(f=self.start_f)


def _breaching_run(store: Path, *argv: str) -> Path:
    options = options_from_args(build_parser().parse_args(
        ["run", "--store", str(store), "--nemesis", "mislabelling", "--seed", "5", *argv]))
    return run_test(options).run_dir


def _assert_breaches_listed(run: Path) -> None:
    results = json.loads((run / "results.json").read_text())
    protocol = results["nemesis_protocol"]
    stops = [op for op in read_history(run / "history.jsonl")
             if op.process == "nemesis" and op.type == "invoke" and op.f == "stop-mislabel"]
    assert stops, "the schedule stopped the fault at least once (main phase and heal)"
    assert protocol["valid"] == "unknown" and protocol["problem_count"] == len(stops)
    assert all("completion f 'start-mislabel' != 'stop-mislabel'" in problem
               for problem in protocol["problems"])
    assert results["valid"] == "unknown", "a breaching nemesis never reads as a pass"
    test = json.loads((run / "test.json").read_text())
    assert test["nemesis_problems"] == protocol["problems"]
    # the history stays well formed: each nemesis completion has its invoke's f
    nemesis_ops = [op for op in read_history(run / "history.jsonl") if op.process == "nemesis"]
    for invoke, done in zip(nemesis_ops[::2], nemesis_ops[1::2]):
        assert (invoke.type, done.type, done.f) == ("invoke", "info", invoke.f)
        if invoke.f == "stop-mislabel":
            assert "nemesis protocol breach" in (done.error or "")


@pytest.fixture
def mislabelling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(BUILTIN_NEMESES, "mislabelling", MislabellingNemesis)


@pytest.mark.usefixtures("mislabelling")
def test_a_breaching_nemesis_is_listed_in_results_json_sim(tmp_path: Path) -> None:
    run = _breaching_run(tmp_path, "--backend", "sim", "--dcs", "2", "--users", "6", "--rate",
                         "10", "--time-limit", "6", "--nemesis-interval", "1.5")
    _assert_breaches_listed(run)


def test_a_run_within_the_protocol_lists_no_breach(tmp_path: Path) -> None:
    options = options_from_args(build_parser().parse_args(
        ["run", "--store", str(tmp_path), "--backend", "sim", "--dcs", "3", "--users", "6",
         "--rate", "10", "--time-limit", "6", "--nemesis", "partition-one,kill",
         "--nemesis-interval", "1.5", "--seed", "5"]))
    outcome = run_test(options)
    assert outcome.results["nemesis_protocol"] == {"valid": True, "problems": [],
                                                   "problem_count": 0}
    assert json.loads((outcome.run_dir / "test.json").read_text())["nemesis_problems"] == []


@pytest.mark.integration
@pytest.mark.usefixtures("mislabelling")
def test_a_breaching_nemesis_is_listed_in_results_json_local(tmp_path: Path,
                                                             toxiproxy_server: Path) -> None:
    run = _breaching_run(tmp_path, "--backend", "local", "--dcs", "2", "--users", "4", "--rate",
                         "10", "--time-limit", "4", "--nemesis-interval", "1",
                         "--recovery-timeout", "30")
    _assert_breaches_listed(run)


def test_checking_a_run_without_the_record_leaves_the_entry_out() -> None:
    from checkers import check_all
    assert "nemesis_protocol" not in check_all([], options={})
    broken = check_all([], options={"nemesis_problems": "oops"})["nemesis_protocol"]
    assert broken["valid"] == "unknown" and "list of strings" in broken["reason"]
    assert isinstance(broken, Mapping)
