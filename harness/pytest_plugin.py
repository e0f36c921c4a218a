"""imfault's pytest plugin (entry point `pytest11` named `imfault`; DESIGN §5).

Write fault-injection scenarios as ordinary tests::

    @pytest.mark.im_nemesis("partition-one", nemesis_interval=2)
    def test_partition(im_run):
        result = im_run()
        result.assert_valid()

Options (group `imfault`, each with an ini twin): `--im-backend`, `--im-dcs`,
`--im-wan-latency`, `--im-seed`, `--im-store`, `--im-time-limit`, `--im-summary-md`. Fixtures:
`im_settings` (session), `im_cluster` (module: one started cluster a module can share; shape it
with the module marker `im_cluster(**ClusterSpec fields)`), `im_run` (function: run a workload
with a nemesis and get an `ImResult`), `im_explore` (function: an `imfault explore` search on
sim). Marker `im_nemesis(*names, **run options)`. The header shows the effective
options and seed; a failed test gets an `imfault` section with each run's verdict table, run
directory, report and reproducing commands in its longrepr. For CI (`_pytest_ci`): each run's
`imfault_*` JUnit properties, and at the session's end the store's `index.html` and a Markdown
summary. See docs/writing-scenarios.md and docs/ci.md.

Import-light: loading the plugin imports only the standard library, pytest and the plugin's own
helpers; the runner, backends (Toxiproxy, Docker), rich, networkx and Hypothesis are imported
when a fixture runs.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ._pytest_ci import add_failure_text, finish_session, record_raised, record_result
from ._pytest_options import ImSettings, add_options, derive_seed, settings_from_config
from ._pytest_run import (
    ImResult,
    ensure_backend_available,
    make_run_options,
    run_fields_of_spec,
    run_scenario,
)

if TYPE_CHECKING:
    from .backends import Backend

__all__ = ["ImResult", "ImRun", "ImSettings"]

ImRun = Callable[..., ImResult]

_SETTINGS = pytest.StashKey[ImSettings]()
_RUNS = pytest.StashKey[list["ImResult | str"]]()
"""A test's runs: an `ImResult`, or the description of a run that raised (no verdict)."""
_SESSION_RUNS = pytest.StashKey[list[ImResult]]()
"""Every checked run of the session, in order (for the index and the Markdown summary)."""

_MARKERS = (
    ("im_nemesis(*names, **run_options): an imfault nemesis scenario; im_run() uses these "
     "nemesis names and RunOptions overrides (e.g. nemesis_interval=2, users=10)"),
    ("im_cluster(**spec): shape of the module's shared im_cluster (ClusterSpec fields, e.g. "
     "dcs=4, access_per_dc=2); use it as a module-level pytestmark"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def pytest_configure(config: pytest.Config) -> None:
    for line in _MARKERS:
        config.addinivalue_line("markers", line)
    config.stash[_SETTINGS] = settings_from_config(config)
    config.stash[_SESSION_RUNS] = []


def pytest_report_header(config: pytest.Config) -> str:
    return config.stash[_SETTINGS].header()


def _settings(config: pytest.Config) -> ImSettings:
    return config.stash[_SETTINGS]


@pytest.fixture(scope="session")
def im_settings(pytestconfig: pytest.Config) -> ImSettings:
    """The effective imfault settings of this session (command line > ini > defaults)."""
    return _settings(pytestconfig)


def _base_run_options(settings: ImSettings) -> dict[str, Any]:
    return settings.run_options()


@pytest.fixture(scope="module")
def im_cluster(request: pytest.FixtureRequest,
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Backend]:
    """A started cluster shared by the tests of a module (stopped at the module's end, also on
    failure). Pass it to `im_run(cluster=im_cluster)`, or use it directly (`nodes()`,
    `access_addresses()`, `admin_status()`, `wan`, `kill()`, ...)."""
    from .backends import ClusterSpec
    from .systems import get_system

    settings = _settings(request.config)
    marker = request.node.get_closest_marker("im_cluster")
    spec_fields: dict[str, Any] = {"dcs": settings.dcs, "wan_latency_ms": settings.wan_latency,
                                   "seed": derive_seed(settings.seed, request.node.nodeid)}
    if marker is not None:
        spec_fields.update(marker.kwargs)
    backend_name = str(spec_fields.pop("backend", settings.backend))
    system = get_system(str(spec_fields.pop("system", settings.system)))
    system.check_backend(backend_name)
    ensure_backend_available(backend_name)
    system.check_installed(backend_name)
    spec = ClusterSpec(work_dir=tmp_path_factory.mktemp("im-cluster"), **spec_fields)
    backend = system.make_backend(backend_name)
    try:
        backend.start(spec)
        yield backend
    finally:
        backend.stop()


@pytest.fixture
def im_run(request: pytest.FixtureRequest) -> ImRun:
    """`im_run(nemesis=None, *, cluster=None, **run_options) -> ImResult`.

    Runs the workload with the nemesis (names as for `--nemesis`; default: the test's
    `im_nemesis` marker, else none) on a fresh cluster, or on `cluster` (e.g. `im_cluster`),
    checks it and returns the result. `run_options` are `RunOptions` fields (`users`, `rate`,
    `time_limit`, `nemesis_interval`, `bug`, `delivery`, `exactly_once`, ...). Each call gets
    its own seed derived from `--im-seed` and the test id.
    """
    settings = _settings(request.config)
    item = request.node
    marker = item.get_closest_marker("im_nemesis")
    runs = item.stash.setdefault(_RUNS, [])

    def run(nemesis: str | list[str] | None = None, *, cluster: Backend | None = None,
            **overrides: Any) -> ImResult:
        marked: dict[str, Any] = dict(marker.kwargs) if marker is not None else {}
        if marker is not None and marker.args:
            marked["nemesis"] = list(marker.args)
        if nemesis is not None:
            marked["nemesis"] = nemesis
        base = _base_run_options(settings)
        base["seed"] = derive_seed(settings.seed, item.nodeid, len(runs))
        base["name"] = _run_name(item.name)
        if cluster is not None and cluster.spec is not None:
            base.update(run_fields_of_spec(cluster.spec))
            base["backend"] = getattr(cluster, "name", settings.backend)
        options = make_run_options(base, {**marked, **overrides})
        try:
            run_dir, results, exit_code, report = run_scenario(options, cluster)
        except Exception as exc:  # a setup or usage error: no verdict, still a reproducer
            runs.append(f"raised {type(exc).__name__}: {exc}\n"
                        f"reproduce: {options.command()}\n"
                        f"reproduce the test: {_pytest_command(item.nodeid, settings)}")
            record_raised(item, options)
            raise
        result = ImResult(options=options, results=results, run_dir=run_dir,
                          report_path=report, exit_code=exit_code,
                          shared_cluster=cluster is not None, test_id=item.nodeid,
                          pytest_command=_pytest_command(item.nodeid, settings))
        runs.append(result)
        request.config.stash[_SESSION_RUNS].append(result)
        record_result(item, result)
        return result

    return run


@pytest.fixture
def im_explore(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """`im_explore(nemesis=None, *, examples=100, max_faults=3, time_budget=None, fail=True,
    confirm_on=None, **run_options) -> ExploreResult`: an `imfault explore` search on sim (e.g.
    "no schedule of at most 4 fault ops loses a message"); an invalid run fails the test with the
    shrunk schedule and its replay commands (`fail=False`: just return the result); `confirm_on`
    ("local", "docker", "swarm") replays a failure there first (`result.confirmation`)."""
    from ._pytest_explore import explore_in_test

    settings = _settings(request.config)
    item = request.node
    calls = [0]

    def explore(nemesis: str | list[str] | None = None, *, examples: int = 100,
                max_faults: int = 3, time_budget: float | None = None, fail: bool = True,
                confirm_on: str | None = None, **overrides: Any) -> Any:
        calls[0] += 1
        seed = derive_seed(settings.seed, item.nodeid, calls[0] - 1)
        return explore_in_test(settings, seed, _run_name(item.name), nemesis, examples,
                               max_faults, time_budget, fail, overrides, confirm_on)

    return explore


def _run_name(test_name: str) -> str:
    """A store-safe run name from the test name (`test_x[local]` -> `test_x-local`)."""
    cleaned = "".join(c if c.isalnum() or c in "._+-" else "-" for c in test_name).strip("-")
    return cleaned or "pytest"


def _pytest_command(nodeid: str, settings: ImSettings) -> str:
    return shlex.join(["pytest", nodeid, *settings.pytest_args()])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    runs = item.stash.get(_RUNS, [])
    if report.failed and runs and report.when == "call":
        text = "\n\n".join(
            f"run {n} of {len(runs)}:\n{run if isinstance(run, str) else run.describe()}"
            for n, run in enumerate(runs, 1))
        add_failure_text(report, text)


def pytest_sessionfinish(session: pytest.Session) -> None:
    config = session.config
    if _SETTINGS in config.stash:
        finish_session(config, config.stash.get(_SESSION_RUNS, []),
                       config.stash[_SETTINGS].summary_md)
