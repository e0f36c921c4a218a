"""The nemesis registry: built-ins, entry point group `imfault.nemeses`, `imfault nemeses`.

Third-party nemeses are loaded the way an installed package would provide them: a temporary
`*.dist-info` directory with an `entry_points.txt` on `sys.path` (what pip installs), read by
`importlib.metadata`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.nemesis import (
    BUILTIN_NEMESES,
    ComposedNemesis,
    Nemesis,
    NoopNemesis,
    available_nemeses,
    get_nemesis,
    parse_nemesis_names,
)

CATALOGUE = ["partition-one", "partition-halves", "partition-ring", "partition-bridge",
             "partition-oneway", "wan-degrade", "kill", "pause", "dc-outage", "clock-skew",
             "clock-ahead"]

PLUGIN_SOURCE = '''
"""A third-party nemesis, as a researcher would write it."""
from harness.nemesis import Nemesis


class FlakyDiskNemesis(Nemesis):
    name = "flaky-disk"
    help = "pretend the disk of a random hub is flaky"
    fs = frozenset({"start-disk", "stop-disk"})
    start_f = "start-disk"
    stop_f = "stop-disk"

    def apply(self, ctx, f, value):
        value["seen"] = f
        return value


def make_slow_gc():
    nemesis = FlakyDiskNemesis()
    nemesis.name = "slow-gc"
    return nemesis


def broken():
    raise RuntimeError("plugin is broken")
'''


@pytest.fixture
def plugin_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    package = tmp_path / "imfault_flaky_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    dist_info = tmp_path / "imfault_flaky_plugin-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: imfault-flaky-plugin\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent("""
        [imfault.nemeses]
        flaky-disk = imfault_flaky_plugin:FlakyDiskNemesis
        slow-gc = imfault_flaky_plugin:make_slow_gc
        kill = imfault_flaky_plugin:FlakyDiskNemesis
        broken = imfault_flaky_plugin:broken
        """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("imfault_flaky_plugin", None)


def test_catalogue_of_design_is_built_in_with_one_line_help() -> None:
    catalogue = available_nemeses()
    for name in CATALOGUE:
        assert name in catalogue
        assert catalogue[name] and "\n" not in catalogue[name]
    assert list(catalogue)[: len(BUILTIN_NEMESES)] == list(BUILTIN_NEMESES)


@pytest.mark.parametrize("name", CATALOGUE)
def test_each_builtin_instantiates_with_matching_name_and_fs(name: str) -> None:
    nemesis = get_nemesis(name)
    assert nemesis.name == name
    assert nemesis.start_f in nemesis.fs and nemesis.stop_f in nemesis.fs


def test_unknown_name_is_a_usage_error_listing_the_known_ones() -> None:
    with pytest.raises(UsageError) as excinfo:
        get_nemesis("partition-one,partition-moon")
    message = str(excinfo.value)
    assert "partition-moon" in message
    assert all(name in message for name in CATALOGUE)


def test_names_parse_from_commas_and_lists() -> None:
    assert parse_nemesis_names("kill, pause,,kill") == ["kill", "pause"]
    assert parse_nemesis_names(["kill", "pause,clock-skew"]) == ["kill", "pause", "clock-skew"]
    assert parse_nemesis_names(None) == []


def test_several_names_compose_and_none_is_noop() -> None:
    composed = get_nemesis(["partition-one", "kill"])
    assert isinstance(composed, ComposedNemesis)
    assert composed.fs == {"start-partition", "stop-partition", "kill", "start"}
    assert isinstance(get_nemesis(None), NoopNemesis)
    assert isinstance(get_nemesis("noop"), NoopNemesis)


def test_entry_point_nemeses_are_listed_and_loaded(plugin_on_path: Path) -> None:
    catalogue = available_nemeses()
    assert catalogue["flaky-disk"] == "pretend the disk of a random hub is flaky"
    assert "slow-gc" in catalogue
    flaky = get_nemesis("flaky-disk")
    assert isinstance(flaky, Nemesis) and type(flaky).__name__ == "FlakyDiskNemesis"
    slow = get_nemesis("slow-gc")
    assert slow.name == "slow-gc"
    composed = get_nemesis("flaky-disk,partition-one")
    assert composed.fs >= {"start-disk", "start-partition"}


def test_entry_point_cannot_replace_a_builtin(plugin_on_path: Path) -> None:
    assert type(get_nemesis("kill")).__name__ == "KillNemesis"


def test_broken_entry_point_is_a_usage_error_not_a_crash(plugin_on_path: Path) -> None:
    assert "broken" in available_nemeses()
    with pytest.raises(UsageError, match="plugin is broken"):
        get_nemesis("broken")


def run_cli(*args: str, extra_path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path),
                                                          env.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "harness", "nemeses", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)


def test_imfault_nemeses_prints_name_and_help(plugin_on_path: Path) -> None:
    result = run_cli(extra_path=plugin_on_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    names = [line.split()[0] for line in lines]
    assert names[: len(CATALOGUE) + 1] == ["noop", *CATALOGUE]
    assert "flaky-disk" in names
    flaky_line = lines[names.index("flaky-disk")]
    assert flaky_line.split(None, 1)[1] == "pretend the disk of a random hub is flaky"


def test_imfault_nemeses_json() -> None:
    result = run_cli("--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == available_nemeses()
