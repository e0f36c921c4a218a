"""A third-party nemesis, end to end: a tiny package written at test time (module + `*.dist-info`
with an `imfault.nemeses` entry point, what `pip install` would leave) on PYTHONPATH of real
`imfault` subprocesses. `imfault nemeses` lists it; `imfault run --nemesis` runs it against a
real 2-DC local cluster, composed with a built-in, and its faults are in the history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PLUGIN_SOURCE = '''
"""imfault_slowlink: a nemesis that slows every WAN link into one DC (a third-party example)."""
import random
from typing import Any

from harness.nemesis import Nemesis, NemesisContext


class SlowLinkNemesis(Nemesis):
    name = "slow-link"
    help = "add 300 ms latency on every WAN link into one random DC, then remove it"
    fs = frozenset({"slow-link", "fast-link"})
    start_f = "slow-link"
    stop_f = "fast-link"

    def start_value(self, ctx: NemesisContext, rng: random.Random) -> dict[str, Any]:
        return {"dc": rng.choice(ctx.dc_names)}

    def apply(self, ctx: NemesisContext, f: str, value: dict[str, Any]) -> dict[str, Any]:
        if f == self.start_f:
            links = [(src, value["dc"]) for src in ctx.dc_names if src != value["dc"]]
            value["toxics"] = ctx.wan.degrade("latency", links, latency=300)
        else:
            ctx.wan.restore_wan()
        return value
'''


@pytest.fixture
def plugin_path(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    (root / "imfault_slowlink").mkdir(parents=True)
    (root / "imfault_slowlink" / "__init__.py").write_text(PLUGIN_SOURCE)
    dist_info = root / "imfault_slowlink-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: imfault-slowlink\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent("""
        [imfault.nemeses]
        slow-link = imfault_slowlink:SlowLinkNemesis
        """))
    return root


def imfault(args: list[str], plugin_path: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    return subprocess.run([sys.executable, "-m", "harness", *args], env=env, check=False,
                          capture_output=True, text=True, timeout=timeout)


def test_imfault_nemeses_lists_the_plugin(plugin_path: Path) -> None:
    listed = imfault(["nemeses", "--json"], plugin_path, 60)
    assert listed.returncode == 0, listed.stderr
    catalogue = json.loads(listed.stdout)
    assert catalogue["slow-link"] == "add 300 ms latency on every WAN link into one random DC, " \
                                      "then remove it"
    without = subprocess.run([sys.executable, "-m", "harness", "nemeses", "--json"],
                             check=False, capture_output=True, text=True, timeout=60,
                             env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert "slow-link" not in json.loads(without.stdout)


def test_imfault_run_uses_the_plugin_from_nemesis_option(plugin_path: Path,
                                                         tmp_path: Path) -> None:
    store = tmp_path / "store"
    run = imfault(["run", "--dcs", "2", "--users", "6", "--rate", "10", "--time-limit", "4",
                   "--nemesis", "slow-link,partition-one", "--nemesis-interval", "1",
                   "--wan-latency", "20", "--recovery-timeout", "20", "--seed", "4",
                   "--store", str(store), "--no-progress"], plugin_path, 180)
    assert run.returncode == 0, run.stdout + run.stderr
    [run_dir] = [p for p in (store / "slow-link-partition-one").iterdir() if p.is_dir()
                 and not p.is_symlink()]
    ops = [json.loads(line) for line in (run_dir / "history.jsonl").open()]
    slowed = [op for op in ops if op["process"] == "nemesis" and op["f"] == "slow-link"
              and op["type"] == "info"]
    assert slowed and all("error" not in op and op["value"]["toxics"] for op in slowed)
    assert any(op["f"] == "fast-link" and op["type"] == "info" for op in ops)
    assert any(op["f"] == "start-partition" for op in ops)
    test = json.loads((run_dir / "test.json").read_text())
    assert test["nemesis"] == ["slow-link", "partition-one"]
