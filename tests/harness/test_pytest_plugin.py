"""Tests of the imfault pytest plugin without a cluster: entry point, import weight, options and
ini twins, header, seeds, run options, the shared-cluster guard and the verdict table. The
failure section of a real failing run is tested by test_pytest_plugin_example.py.

Option and header tests run pytest in a subprocess (`pytester.runpytest_subprocess`) so the
plugin is loaded the way users get it: from the installed `pytest11` entry point.
"""

from __future__ import annotations

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from harness._pytest_options import derive_seed
from harness._pytest_run import SharedCluster, make_run_options, verdict_table
from harness.backends import ClusterSpec
from harness.backends.local import LocalBackend
from harness.errors import UsageError

pytest_plugins = ["pytester"]

HEAVY_MODULES = ["docker", "rich", "hypothesis", "networkx", "toxiproxy", "harness.runner",
                 "harness.backends", "harness.nemesis", "checkers", "reports", "imcluster._hub", "imcluster._access",
                 "imcluster._memnet", "imcluster._state", "imcluster.client"]
# (the package `imcluster` and its `_config` are light: the option schema's mode/bug names)


def test_plugin_is_registered_as_pytest11_entry_point() -> None:
    found = {ep.name: ep.value for ep in metadata.entry_points(group="pytest11")}
    assert found.get("imfault") == "harness.pytest_plugin"


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = ("import json, sys, harness.pytest_plugin; "
            f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert json.loads(out.stdout) == []


def test_pytest_with_the_plugin_loaded_imports_nothing_heavy(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_light=f"""
        import sys
        def test_light():
            loaded = [m for m in {["docker", "rich", "networkx", "harness.runner",
                                   "harness.backends"]!r} if m in sys.modules]
            assert loaded == []
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    result.assert_outcomes(passed=1)


def test_options_group_ini_twins_and_header(pytester: pytest.Pytester) -> None:
    pytester.makeini("""
        [pytest]
        im_dcs = 4
        im_wan_latency = 75
        im_time_limit = 5
        im_store = runs
    """)
    pytester.makepyfile(test_settings="""
        def test_settings(im_settings, pytestconfig):
            assert im_settings.dcs == 4            # ini
            assert im_settings.wan_latency == 75   # ini
            assert im_settings.seed == 11          # command line
            assert im_settings.time_limit == 2.5   # command line beats ini
            assert im_settings.store == pytestconfig.rootpath / "runs"
            assert im_settings.backend == "local"  # default
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--im-seed", "11",
                                           "--im-time-limit", "2.5")
    result.assert_outcomes(passed=1)
    header = "imfault: backend=local dcs=4 wan-latency=75ms time-limit=2.5s seed=11 store=*runs"
    result.stdout.fnmatch_lines([header])
    help_text = pytester.runpytest_subprocess("--help").stdout.str()
    assert "imfault fault-injection scenarios:" in help_text
    for flag in ("--im-backend", "--im-dcs", "--im-wan-latency", "--im-seed", "--im-store",
                 "--im-time-limit"):
        assert flag in help_text


def test_random_seed_is_shown_with_how_to_replay_it(pytester: pytest.Pytester,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IMFAULT_SEED", raising=False)
    pytester.makepyfile(test_nothing="def test_nothing(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.re_match_lines([r"imfault: .* seed=(\d+) \(random; rerun with --im-seed \1\)"])


def test_invalid_option_values_are_usage_errors(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_nothing="def test_nothing(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--im-backend", "cloud")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--im-backend must be one of local, docker, sim*"])


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["*im_nemesis(*names, **run_options)*", "*im_cluster(**spec)*"])


def test_seeds_are_stable_per_test_and_run_and_distinct_across() -> None:
    assert derive_seed(5, "t.py::a") == derive_seed(5, "t.py::a")
    seeds = {derive_seed(5, "t.py::a"), derive_seed(5, "t.py::b"), derive_seed(6, "t.py::a"),
             derive_seed(5, "t.py::a", 1)}
    assert len(seeds) == 4
    assert all(0 <= s < 2**31 for s in seeds)


def test_run_options_merge_defaults_session_and_overrides() -> None:
    options = make_run_options({"dcs": 3, "time_limit": 8.0, "seed": 1},
                               {"nemesis": "partition-one,kill", "bug": "gateway-drop",
                                "time_limit": 6})
    assert options.nemesis == ["partition-one", "kill"]
    assert options.bug == ["gateway-drop"]
    assert options.time_limit == 6 and options.dcs == 3 and options.users == 20
    assert "--nemesis partition-one,kill" in options.command()
    with pytest.raises(UsageError, match="time_limt"):
        make_run_options({}, {"time_limt": 3})


def test_shared_cluster_refuses_a_run_of_another_shape(tmp_path: Path) -> None:
    backend = LocalBackend()  # not started: the shape check comes first (a run that fits is in
    backend.spec = ClusterSpec(dcs=3, wan_latency_ms=50, work_dir=tmp_path)  # ..._shared.py)
    shared = SharedCluster(backend)
    with pytest.raises(UsageError, match="dcs: run wants 4, cluster has 3"):
        shared.start(ClusterSpec(dcs=4, wan_latency_ms=50, work_dir=tmp_path))
    with pytest.raises(UsageError, match="bugs"):
        shared.start(ClusterSpec(dcs=3, wan_latency_ms=50, bugs=("gateway-drop",),
                                 work_dir=tmp_path))
    shared.stop()  # lends, never stops
    assert shared.spec is backend.spec


def test_verdict_table_lists_overall_then_each_checker() -> None:
    table = verdict_table({"valid": False,
                           "delivery": {"valid": False, "lost_count": 3, "attempted": 10},
                           "routing": {"valid": "unknown", "reason": "no final.json"}})
    lines = table.splitlines()
    assert lines[0].split() == ["overall", "invalid"]
    assert lines[1].split()[:2] == ["delivery", "invalid"] and "lost_count=3" in lines[1]
    assert lines[2].split()[:2] == ["routing", "unknown"] and "no final.json" in lines[2]


def test_a_run_that_raises_still_gets_its_reproducer(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_unknown="""
        def test_unknown_nemesis(im_run, tmp_path):
            im_run("partition-moon", store=str(tmp_path))
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--im-seed", "2")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*- imfault -*", "run 1 of 1:", "raised UsageError: unknown nemesis 'partition-moon'*",
        "reproduce: imfault run * --nemesis partition-moon * --name test_unknown_nemesis",
        "reproduce the test: pytest test_unknown.py::test_unknown_nemesis * --im-seed 2 *"])
