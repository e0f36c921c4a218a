"""Fault ops named once: each nemesis declares which ops open and close its faults, the runner
records them in test.json, and the live progress, the checkers and the report read them there.

The end-to-end test runs `imfault run` with a third-party nemesis installed the way pip would
install it (a `*.dist-info` with an entry point on PYTHONPATH) and finds its band in the report."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import pytest
from test_nemesis_registry import PLUGIN_SOURCE  # its `flaky-disk` plugin, as a package has it

from harness.errors import UsageError
from harness.nemesis import BUILTIN_NEMESES, Nemesis, compose, get_nemesis, validate
from harness.ops import Op
from harness.runner import RunState, fault_ops_json


class FlakyDisk(Nemesis):
    name = "flaky-disk"
    fs = frozenset({"start-disk", "stop-disk"})
    start_f = "start-disk"
    stop_f = "stop-disk"


class SlowDiskAndClock(Nemesis):
    """Two kinds of fault, declared with a class attribute (`start-disk` under another kind)."""

    name = "slow-disk"
    fs = frozenset({"start-disk", "stop-disk", "bump-clock", "reset-clock"})
    fault_ops: ClassVar[dict[str, tuple[str, str]]] = {
        "slow-disk": ("start-disk", "stop-disk"), "clock": ("bump-clock", "reset-clock")}


def test_every_builtin_declares_its_fault_with_its_own_ops() -> None:
    kinds = {}
    for name in BUILTIN_NEMESES:
        nemesis = get_nemesis(name)
        if name == "noop":
            assert dict(nemesis.fault_ops) == {}
            continue
        [(kind, ops)] = nemesis.fault_ops.items()
        assert ops == (nemesis.start_f, nemesis.stop_f)
        kinds[name] = kind
    assert {kinds[n] for n in BUILTIN_NEMESES if n.startswith("partition-")} == {
        "partition", "partition-node"}
    assert kinds["kill"] == kinds["dc-outage"] == "kill"  # the same ops: the same fault
    assert (kinds["pause"], kinds["clock-skew"], kinds["wan-degrade"]) == ("pause", "clock", "wan")


def test_composition_unites_fault_ops_and_refuses_ambiguous_ones() -> None:
    composed = compose([get_nemesis("kill"), get_nemesis("dc-outage"), FlakyDisk()])
    assert dict(composed.fault_ops) == {"kill": ("kill", "start"),
                                        "disk": ("start-disk", "stop-disk")}
    assert validate(composed).fault_ops == composed.fault_ops
    assert dict(SlowDiskAndClock().fault_ops)["clock"] == ("bump-clock", "reset-clock")
    with pytest.raises(UsageError, match="start-disk"):  # one op, two faults
        compose([FlakyDisk(), SlowDiskAndClock()])


def test_test_json_record_and_live_progress_name_a_plugin_fault() -> None:
    recorded = fault_ops_json(compose([get_nemesis("partition-one"), FlakyDisk()]))
    assert recorded == {"partition": {"open": "start-partition", "close": "stop-partition"},
                        "disk": {"open": "start-disk", "close": "stop-disk"}}
    state = RunState(recorded)
    state.on_op(Op(0, 0, "nemesis", "info", "start-disk", {"node": "dc1-hub"}))
    state.on_op(Op(1, 0, "nemesis", "info", "kill", {"node": "dc1-hub"}))  # not this run's fault
    assert set(state.active_faults) == {"disk"}
    state.on_op(Op(2, 0, "nemesis", "info", "stop-disk", {}))
    assert state.active_faults == {}


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    """A directory that, on PYTHONPATH, installs the `flaky-disk` nemesis as pip would."""
    root = tmp_path / "plugin"
    (root / "imfault_disk_plugin").mkdir(parents=True)
    (root / "imfault_disk_plugin" / "__init__.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    dist_info = root / "imfault_disk_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: imfault-disk-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(  # only flaky-disk of that module
        "[imfault.nemeses]\nflaky-disk = imfault_disk_plugin:FlakyDiskNemesis\n")
    return root


@pytest.mark.integration
@pytest.mark.slow
def test_a_plugin_nemesis_run_has_its_band_in_the_report(
        tmp_path: Path, plugin_path: Path, toxiproxy_server: Path,
        spawn: Callable[..., subprocess.Popen[str]]) -> None:
    store = tmp_path / "store"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [str(plugin_path), os.environ.get("PYTHONPATH", "")])))
    child = spawn([sys.executable, "-m", "harness", "run", "--dcs", "2", "--users", "6",
                   "--rate", "10", "--time-limit", "5", "--nemesis", "flaky-disk,kill",
                   "--nemesis-interval", "1.5", "--seed", "11", "--store", str(store),
                   "--no-progress"], store=store, env=env, stdout=subprocess.PIPE,
                  stderr=subprocess.STDOUT, text=True)
    output, _ = child.communicate(timeout=240)
    assert child.returncode == 0, output
    run = (store / "latest").resolve()
    test = json.loads((run / "test.json").read_text())
    assert test["fault_ops"] == {"disk": {"open": "start-disk", "close": "stop-disk"},
                                 "kill": {"open": "kill", "close": "start"}}
    results: dict[str, Any] = json.loads((run / "results.json").read_text())
    assert any(item["f"] == "start-disk" for item in results["perf"]["nemesis"])
    html = (run / "report.html").read_text()
    lanes = set(re.findall(r'text-anchor="end" font-size="11">([^<]+)</text>', html))
    assert {"disk", "kill"} <= lanes
    assert re.search(r"<title>disk [0-9.]+s to [0-9.]+s</title>", html)
