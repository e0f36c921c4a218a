"""The run option schema (`harness._options`) is the one list the CLI, the pytest options and
their ini twins, the reproducing command and `ClusterSpec` are generated from."""

from __future__ import annotations

import dataclasses
import shlex

import pytest

from harness._cli_run import options_from_args
from harness._options import RUN_OPTIONS, RunOptions, cluster_spec, command_args
from harness._pytest_options import IM_OPTIONS, RUN_IM_OPTIONS
from harness.backends._base import BUG_NAMES, ClusterSpec
from harness.cli import build_parser

SCHEMA = {spec.name for spec in RUN_OPTIONS}


def _run_parser_flags() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    run = sub.choices["run"]
    return {flag for action in run._actions for flag in action.option_strings
            if flag.startswith("--")} - {"--help", "--no-progress"}


def test_cli_pytest_and_reproduce_cover_the_schema() -> None:
    assert SCHEMA == {f.name for f in dataclasses.fields(RunOptions)}
    assert _run_parser_flags() == {spec.flag for spec in RUN_OPTIONS}
    assert {o.name for o in RUN_IM_OPTIONS} == {spec.pytest_name for spec in RUN_OPTIONS
                                                if spec.pytest_name}
    assert {o.name for o in IM_OPTIONS} - {o.name for o in RUN_IM_OPTIONS} == {"im_summary_md"}
    # every option shows in the reproduce command when it differs from its default
    full = RunOptions(backend="sim", dcs=3, access_per_dc=2, users=9, rate=7.5, time_limit=11,
                      nemesis=["kill", "pause"], nemesis_interval=2.5, wan_latency=30,
                      wan_jitter=4, gossip_interval=50, gossip="anti-entropy",
                      partition_style="refuse", delivery="online-first",
                      bug=["gateway-drop", "volatile-store"], roam=0.2, locality=0.5,
                      recovery_timeout=9, seed=42, store="elsewhere", name="named",
                      exactly_once=True, schedule="/tmp/s.json")
    flags = {arg for arg in command_args(full) if arg.startswith("--")}
    assert flags == {spec.flag for spec in RUN_OPTIONS}


@pytest.mark.parametrize("options", [
    RunOptions(seed=5),
    RunOptions(backend="sim", dcs=3, users=9, rate=7.5, time_limit=11, nemesis=["kill", "pause"],
               nemesis_interval=2.5, wan_latency=30.5, gossip="push", partition_style="refuse",
               delivery="online-first", bug=["gateway-drop", "volatile-store"], roam=0.25,
               locality=0.5, recovery_timeout=9, seed=42, store="s t", name="named",
               exactly_once=True),
])
def test_run_options_round_trip_through_the_reproduce_command(options: RunOptions) -> None:
    argv = shlex.split(options.command())
    assert argv[:2] == ["imfault", "run"]
    again = options_from_args(build_parser().parse_args(argv[1:]))
    expected = dataclasses.replace(options, name=options.test_name())
    assert again == expected


def test_cluster_spec_is_built_from_the_schema(tmp_path) -> None:
    options = RunOptions(dcs=2, access_per_dc=3, wan_latency=10, wan_jitter=1, gossip="push",
                         gossip_interval=20, delivery="online-first", bug=["gateway-drop"],
                         partition_style="refuse", seed=8)
    spec = cluster_spec(options, tmp_path)
    assert spec == ClusterSpec(dcs=2, access_per_dc=3, wan_latency_ms=10, wan_jitter_ms=1,
                               gossip="push", gossip_interval_ms=20, delivery="online-first",
                               bugs=("gateway-drop",), partition_style="refuse", seed=8,
                               work_dir=tmp_path)


def test_mode_and_bug_names_come_from_imcluster() -> None:
    import imcluster
    by_name = {spec.name: spec for spec in RUN_OPTIONS}
    assert by_name["gossip"].choices is imcluster.GOSSIP_MODES
    assert by_name["delivery"].choices is imcluster.DELIVERY_MODES
    assert by_name["bug"].choices is imcluster.BUGS is BUG_NAMES
    assert by_name["partition_style"].choices is imcluster.PARTITION_STYLES
