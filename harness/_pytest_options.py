"""The pytest plugin's options: the `imfault` option group, ini twins, effective settings, seeds.

Every option has a command-line form (`--im-dcs 5`) and an ini twin (`im_dcs = 5` under
`[pytest]`/`[tool.pytest.ini_options]`); the command line wins. Imports nothing heavy: only the
standard library and pytest.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["IM_OPTIONS", "ImSettings", "add_options", "derive_seed", "settings_from_config"]


@dataclass(frozen=True)
class _Option:
    name: str          # dest and ini name, e.g. "im_dcs"
    flag: str          # "--im-dcs"
    kind: type
    default: Any
    help: str


IM_OPTIONS: tuple[_Option, ...] = (
    _Option("im_backend", "--im-backend", str, "local",
            "backend of the clusters the imfault fixtures start: local (default), docker or sim "
            "(virtual time)"),
    _Option("im_dcs", "--im-dcs", int, 3, "datacenters per cluster (default 3)"),
    _Option("im_wan_latency", "--im-wan-latency", float, 200.0,
            "one-way WAN latency in ms (default 200)"),
    _Option("im_seed", "--im-seed", int, None,
            "base seed; each test's seed derives from it and the test id (default: random, "
            "shown in the header)"),
    _Option("im_store", "--im-store", str, "store",
            "store directory for run directories (default store/, relative to the rootdir)"),
    _Option("im_time_limit", "--im-time-limit", float, 8.0,
            "main phase length of each run in s (default 8)"),
    _Option("im_summary_md", "--im-summary-md", str, None,
            "write a Markdown table of the session's runs (verdicts, key numbers, reports) to "
            "this file (relative to the rootdir); GITHUB_STEP_SUMMARY, when set, gets it too"),
)


def add_options(parser: pytest.Parser) -> None:
    """The `imfault` option group and one ini twin per option."""
    group = parser.getgroup("imfault", "imfault fault-injection scenarios")
    for option in IM_OPTIONS:
        group.addoption(option.flag, dest=option.name, type=option.kind, default=None,
                        metavar=option.name.removeprefix("im_").upper(), help=option.help)
        parser.addini(option.name, f"{option.help} (ini twin of {option.flag})", default=None)


@dataclass(frozen=True)
class ImSettings:
    """The effective plugin settings of a session (command line > ini > default)."""

    backend: str
    dcs: int
    wan_latency: float
    seed: int
    seed_was_given: bool
    store: Path
    time_limit: float
    summary_md: Path | None = None

    def header(self) -> str:
        """One line for `pytest_report_header`."""
        how = "" if self.seed_was_given else " (random; rerun with --im-seed " \
                                              f"{self.seed})"
        return (f"imfault: backend={self.backend} dcs={self.dcs} "
                f"wan-latency={_num(self.wan_latency)}ms time-limit={_num(self.time_limit)}s "
                f"seed={self.seed}{how} store={self.store}")

    def pytest_args(self) -> list[str]:
        """Options that make a pytest re-run use these same settings."""
        return ["--im-backend", self.backend, "--im-dcs", str(self.dcs),
                "--im-wan-latency", _num(self.wan_latency), "--im-seed", str(self.seed),
                "--im-store", str(self.store), "--im-time-limit", _num(self.time_limit)]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _value(config: pytest.Config, option: _Option) -> Any:
    raw = config.getoption(option.name, default=None)
    if raw is None:
        ini = config.getini(option.name)
        if ini not in (None, "", []):
            try:
                raw = option.kind(str(ini).strip())
            except ValueError as exc:
                raise pytest.UsageError(f"ini option {option.name} = {ini!r}: {exc}") from exc
    return option.default if raw is None else raw


def settings_from_config(config: pytest.Config) -> ImSettings:
    """Resolve the effective settings; `pytest.UsageError` for invalid values."""
    values = {option.name: _value(config, option) for option in IM_OPTIONS}
    backend = str(values["im_backend"])
    if backend not in ("local", "docker", "sim"):
        raise pytest.UsageError(f"--im-backend must be local, docker or sim, not {backend!r}")
    if int(values["im_dcs"]) < 1:
        raise pytest.UsageError("--im-dcs must be at least 1")
    if float(values["im_wan_latency"]) < 0:
        raise pytest.UsageError("--im-wan-latency must not be negative")
    if float(values["im_time_limit"]) <= 0:
        raise pytest.UsageError("--im-time-limit must be positive")
    seed = values["im_seed"]
    given = seed is not None
    if seed is None:
        env_seed = os.environ.get("IMFAULT_SEED", "")
        seed = int(env_seed) if env_seed.isdigit() else secrets.randbelow(2**31)
        given = env_seed.isdigit()
    if int(seed) < 0:
        raise pytest.UsageError("--im-seed must be a non-negative integer")
    store = _under_rootdir(config, values["im_store"])
    summary_md = values["im_summary_md"]
    return ImSettings(backend=backend, dcs=int(values["im_dcs"]),
                      wan_latency=float(values["im_wan_latency"]), seed=int(seed),
                      seed_was_given=given, store=store,
                      time_limit=float(values["im_time_limit"]),
                      summary_md=_under_rootdir(config, summary_md) if summary_md else None)


def _under_rootdir(config: pytest.Config, value: Any) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else Path(config.rootpath) / path


def derive_seed(base_seed: int, test_id: str, run_number: int = 0) -> int:
    """The seed of one run of one test: stable for (base seed, test id, n-th run of the test),
    different across tests (so runs sharing a cluster never reuse message ids)."""
    digest = hashlib.sha256(f"{base_seed}|{test_id}|{run_number}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31
