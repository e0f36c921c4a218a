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

from ._options import RUN_OPTIONS, fmt_value, problem

__all__ = ["IM_OPTIONS", "ImSettings", "add_options", "derive_seed", "settings_from_config"]


@dataclass(frozen=True)
class _Option:
    name: str          # dest and ini name, e.g. "im_dcs"
    flag: str          # "--im-dcs"
    kind: type
    default: Any
    help: str


_PYTEST_HELP = {
    "backend": "backend of the clusters the imfault fixtures start: local (default), docker or "
               "sim (virtual time)",
    "dcs": "datacenters per cluster (default 3)",
    "seed": "base seed; each test's seed derives from it and the test id (default: random, "
            "shown in the header)",
    "system": "system under test of the runs and clusters (default imcluster; `imfault systems` "
              "lists them)",
    "store": "store directory for run directories (default store/, relative to the rootdir)",
    "time_limit": "main phase length of each run in s (default 8)",
}
"""Where the plugin's meaning differs from `imfault run`'s help (else the schema's help)."""

RUN_IM_OPTIONS: tuple[_Option, ...] = tuple(
    _Option(str(spec.pytest_name), str(spec.pytest_flag), spec.type, spec.pytest_default,
            _PYTEST_HELP.get(spec.name, spec.help))
    for spec in RUN_OPTIONS if spec.pytest_name is not None)
"""The run options the plugin has `--im-...` options for: generated from the run option schema
(`harness._options`, fields with a `pytest_default`)."""

IM_OPTIONS: tuple[_Option, ...] = RUN_IM_OPTIONS + (
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
    system: str = "imcluster"

    def header(self) -> str:
        """One line for `pytest_report_header`."""
        how = "" if self.seed_was_given else " (random; rerun with --im-seed " \
                                              f"{self.seed})"
        system = "" if self.system == "imcluster" else f" system={self.system}"
        return (f"imfault: backend={self.backend} dcs={self.dcs} "
                f"wan-latency={fmt_value(self.wan_latency)}ms time-limit={fmt_value(self.time_limit)}s "
                f"seed={self.seed}{how} store={self.store}{system}")

    def pytest_args(self) -> list[str]:
        """Options that make a pytest re-run use these same settings (every run option the
        plugin has, from the schema)."""
        args: list[str] = []
        for option in RUN_IM_OPTIONS:
            args += [option.flag, fmt_value(getattr(self, option.name.removeprefix("im_")))]
        return args

    def run_options(self) -> dict[str, Any]:
        """The `RunOptions` values these settings give every run (the seed is per test)."""
        values = {option.name.removeprefix("im_"): getattr(self, option.name.removeprefix("im_"))
                  for option in RUN_IM_OPTIONS if option.name != "im_seed"}
        values["store"] = str(self.store)
        return values


_SEED = next(spec for spec in RUN_OPTIONS if spec.name == "seed")


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
    for spec in RUN_OPTIONS:
        if spec.pytest_name is not None and spec.name != "seed":
            message = problem(spec, values[spec.pytest_name], spec.pytest_flag)
            if message:
                raise pytest.UsageError(message)
    backend = str(values["im_backend"])
    seed = values["im_seed"]
    given = seed is not None
    if seed is None:
        env_seed = os.environ.get("IMFAULT_SEED", "")
        seed = int(env_seed) if env_seed.isdigit() else secrets.randbelow(2**31)
        given = env_seed.isdigit()
    message = problem(_SEED, int(seed), "--im-seed")
    if message:
        raise pytest.UsageError(message)
    store = _under_rootdir(config, values["im_store"])
    summary_md = values["im_summary_md"]
    return ImSettings(backend=backend, dcs=int(values["im_dcs"]),
                      wan_latency=float(values["im_wan_latency"]), seed=int(seed),
                      seed_was_given=given, store=store,
                      time_limit=float(values["im_time_limit"]),
                      system=str(values["im_system"]),
                      summary_md=_under_rootdir(config, summary_md) if summary_md else None)


def _under_rootdir(config: pytest.Config, value: Any) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else Path(config.rootpath) / path


def derive_seed(base_seed: int, test_id: str, run_number: int = 0) -> int:
    """The seed of one run of one test: stable for (base seed, test id, n-th run of the test),
    different across tests (so runs sharing a cluster never reuse message ids)."""
    digest = hashlib.sha256(f"{base_seed}|{test_id}|{run_number}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 2**31
