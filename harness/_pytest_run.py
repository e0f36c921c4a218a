"""What the pytest plugin's fixtures do: start clusters, run tests, and describe the outcome.

`ImResult` is what `im_run(...)` returns (verdict, results dict, run dir, report path, the command
that reproduces the run). `SharedCluster` lets several runs use one started cluster (the module's
`im_cluster`). Heavy modules (the runner, backends, Docker) are imported inside functions only.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ._bridge import call_outside_loop
from ._options import RUN_OPTIONS, cluster_spec_fields_of

if TYPE_CHECKING:
    from .backends import Backend, ClusterSpec
    from .runner import RunOptions

__all__ = ["ImResult", "SharedCluster", "cluster_spec_fields", "ensure_backend_available",
           "make_run_options", "run_fields_of_spec", "run_options_fields", "run_scenario",
           "verdict_table"]

RUN_DEFAULTS: dict[str, Any] = {"users": 20, "rate": 25.0, "nemesis_interval": 2.0,
                                "recovery_timeout": 30.0}
"""Run options the plugin picks for tests where the CLI's defaults are sized for long runs."""

# RunOptions field -> ClusterSpec field, for the options that shape the cluster itself (from the
# run option schema; the seed is per run, not a shape).
_SPEC_OF_RUN = {spec.name: spec.cluster for spec in RUN_OPTIONS
                if spec.cluster is not None and spec.name != "seed"}


def run_options_fields() -> set[str]:
    from .runner import RunOptions

    return {f.name for f in fields(RunOptions)}


def make_run_options(base: dict[str, Any], overrides: dict[str, Any]) -> RunOptions:
    """`RunOptions` from the session settings (`base`) and a test's overrides (field names of
    `RunOptions`; `UsageError` naming the valid ones for a typo)."""
    from .errors import UsageError
    from .nemesis import parse_nemesis_names
    from .runner import RunOptions

    known = run_options_fields()
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UsageError(f"unknown run option(s) {unknown}; use {sorted(known)}")
    values = {**RUN_DEFAULTS, **base, **overrides}
    values["nemesis"] = parse_nemesis_names(values.get("nemesis"))
    bug = values.get("bug", [])
    values["bug"] = [bug] if isinstance(bug, str) else list(bug)
    return RunOptions(**values)


def run_fields_of_spec(spec: ClusterSpec) -> dict[str, Any]:
    """The `RunOptions` fields that describe an existing cluster (to run on it)."""
    values = {run: getattr(spec, name) for run, name in _SPEC_OF_RUN.items()}
    values["bug"] = list(values["bug"])
    return values


def cluster_spec_fields(options: RunOptions) -> dict[str, Any]:
    """The `ClusterSpec` fields a run's options ask for (to compare with a shared cluster)."""
    return cluster_spec_fields_of(options, with_seed=False)


def ensure_backend_available(backend: str) -> None:
    """Skip the test when the docker or swarm backend has no engine (fail with
    IMFAULT_REQUIRE_DOCKER=1)."""
    if backend not in ("docker", "swarm"):
        return
    try:
        from .backends._docker_engine import ENABLE_HINT, engine_available
    except ModuleNotFoundError as exc:
        available, hint = False, f"docker-py is missing ({exc})"
    else:
        available, hint = engine_available(), ENABLE_HINT
    if available:
        return
    message = f"no Docker engine answers: {hint}"
    if os.environ.get("IMFAULT_REQUIRE_DOCKER") == "1":
        pytest.fail(f"IMFAULT_REQUIRE_DOCKER=1 but {message}", pytrace=False)
    pytest.skip(message)


class SharedCluster:
    """A started backend lent to `run_test`: its `start` only checks that the run asks for the
    cluster it gets, its `stop` does nothing (the owner stops it); everything else is the
    backend's own."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def backend(self) -> Backend:
        return self._backend

    def start(self, spec: ClusterSpec) -> None:
        from .errors import UsageError

        have = self._backend.spec
        assert have is not None, "the shared cluster is not started"
        wanted = {name: getattr(spec, name) for name in _SPEC_OF_RUN.values()}
        mismatched = {name: (value, getattr(have, name)) for name, value in wanted.items()
                      if value != getattr(have, name)}
        if mismatched:
            details = ", ".join(f"{name}: run wants {want!r}, cluster has {got!r}"
                                for name, (want, got) in sorted(mismatched.items()))
            raise UsageError(f"this run does not fit the shared cluster ({details}); "
                             "call im_run without cluster= to get a fresh cluster")
        self.heal_leftovers()

    def heal_leftovers(self, attempts: int = 3) -> list[str]:
        """Start every run from a healed cluster: remove WAN faults an earlier run's heal left
        behind (e.g. a Toxiproxy call that timed out) and restart nodes that are down. Returns
        what was healed (also as a warning); `SetupError` when it cannot be healed."""
        from .errors import SetupError

        healed: list[str] = []
        wan = self._backend.wan
        for attempt in range(attempts):
            try:
                faults = wan.active_faults()
                if not faults:
                    break
                healed += [f"{f.get('link')} {f.get('kind')}" for f in faults]
                wan.heal()
                wan.restore_wan()
            except Exception as exc:
                if attempt == attempts - 1:
                    raise SetupError(f"the shared cluster keeps WAN faults of an earlier run "
                                     f"and healing them failed: {type(exc).__name__}: {exc}") \
                        from exc
                time.sleep(1.0)
        else:
            raise SetupError(f"the shared cluster keeps WAN faults of an earlier run: "
                             f"{wan.active_faults()}")
        for node in self._backend.nodes():
            if not self._backend.is_running(node):
                healed.append(f"{node.name} down")
                self._backend.restart(node)
        if healed:
            warnings.warn(f"imfault: an earlier run left the shared cluster unhealed; healed "
                          f"before this run: {', '.join(sorted(set(healed)))}", stacklevel=2)
        return healed

    def stop(self) -> None:
        """The cluster outlives the run; its owner (the fixture) stops it."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


@dataclass
class ImResult:
    """One checked run: `verdict` (True, False or "unknown"), the `results` dict, the run
    directory, the HTML report and the command that reproduces the run."""

    options: RunOptions
    results: dict[str, Any]
    run_dir: Path
    report_path: Path | None
    exit_code: int
    shared_cluster: bool = False
    test_id: str = ""
    pytest_command: str = field(default="", repr=False)

    @property
    def verdict(self) -> Any:
        return self.results.get("valid", "unknown")

    @property
    def valid(self) -> bool:
        return self.verdict is True

    @property
    def command(self) -> str:
        """The `imfault run ...` command line that reproduces this run (on a fresh cluster)."""
        return self.options.command()

    def __getitem__(self, checker: str) -> Any:
        return self.results[checker]

    def describe(self) -> str:
        """The verdict table, run directory, report and reproduce commands, as plain text."""
        lines = [verdict_table(self.results), f"run directory: {self.run_dir}"]
        if self.report_path is not None:
            lines.append(f"report: {self.report_path}  ({self.report_path.resolve().as_uri()})")
        else:
            lines.append("report: (none written)")
        lines.append(f"reproduce: {self.command}")
        if self.pytest_command:
            lines.append(f"reproduce the test: {self.pytest_command}")
        if self.shared_cluster:
            lines.append("(this run shared its module's cluster; the command replays it on a "
                         "fresh one)")
        return "\n".join(lines)

    def assert_valid(self, *checkers: str) -> None:
        """Assert the overall verdict (or each named checker's) is valid, with the whole
        description in the message."""
        if checkers:
            bad = [name for name in checkers
                   if not isinstance(self.results.get(name), dict)
                   or self.results[name].get("valid") is not True]
        else:
            bad = [] if self.valid else ["overall"]
        if bad:
            raise AssertionError(f"imfault run not valid ({', '.join(bad)}):\n{self.describe()}")


def _verdict_word(value: Any) -> str:
    return "valid" if value is True else "invalid" if value is False else "unknown"


def _key_numbers(name: str, result: dict[str, Any]) -> str:
    try:
        from reports._verdict import key_numbers
    except ImportError:
        pairs = [(k, str(v)) for k, v in result.items() if isinstance(v, (int, float))][:6]
    else:
        pairs = key_numbers(name, result, limit=6)
    return "  ".join(f"{k}={v}" for k, v in pairs)


def verdict_table(results: dict[str, Any]) -> str:
    """A plain-text verdict table: overall verdict, then one row per checker."""
    rows = [("overall", _verdict_word(results.get("valid")), "")]
    for name, result in results.items():
        if isinstance(result, dict):
            rows.append((name, _verdict_word(result.get("valid")), _key_numbers(name, result)))
    width = max(len(row[0]) for row in rows)
    return "\n".join(f"{name:<{width}}  {word:<7}  {numbers}".rstrip()
                     for name, word, numbers in rows)


def run_scenario(options: RunOptions, cluster: Backend | None = None) -> tuple[Path, dict[str, Any],
                                                                              int, Path | None]:
    """Run one test (fresh cluster, or `cluster` shared); (run dir, results, exit code, report)."""
    from .runner import run_test

    ensure_backend_available(options.backend)
    backend = SharedCluster(cluster) if cluster is not None else None
    outcome = call_outside_loop(lambda: run_test(options, backend=backend),
                                name="imfault-pytest-run")
    report = outcome.run_dir / "report.html"
    return outcome.run_dir, outcome.results, outcome.exit_code, \
        report if report.is_file() else None
