"""Session-wide helpers and guards shared by every test folder.

- `toxiproxy_server` (fixture): the `toxiproxy-server` binary, or a skip saying how to get it;
  under CI (`CI=true`) or with `IMFAULT_REQUIRE_TOXIPROXY=1` a missing server fails the test
  instead, as `IMFAULT_REQUIRE_DOCKER` does for the Docker engine. Every test that needs the
  server asks for this fixture, so evidence cannot hide behind a skip in CI.
- `spawn` (fixture): starts a command-line child (`imfault run`, `imfault cluster up`, ...) in its
  own session with SIGINT at its default disposition (a CI job started with SIGINT ignored would
  otherwise pass that on, and a test that interrupts the child would hang). Whatever happens to
  the test, its finalizer ends each child still running by its process group, then stops what
  that child's run left behind: `imfault clean` scoped to the test's store/work dirs, and the
  Docker containers and networks labelled with the child's pid.
- Leak guard: every process started during the session inherits `IMFAULT_TEST_SESSION=<token>`.
  At the end, processes of this session still alive (that token in their environment, the
  session's temp dir in their command line, or a cluster process that is a child of pytest) are
  listed with pid and command line, stopped by pid, and the session fails. Nothing else is touched.
  Under pytest-xdist each worker guards its own processes and hands what it stopped to the
  controller (`workeroutput`), which fails the whole run.
- Parallel runs (`-n 2`, what scripts/test does): a module's tests run on one
  worker, in order (they share module-scoped clusters, and some read what earlier ones left);
  tests that share a machine-wide resource also run on one worker, one after another: everything
  that talks to the Docker engine (image builds of one tag, the swarm, engine-wide checks), and
  the systems under test (a local `--system nats` run isolates DCs with iptables rules on fixed
  uids). `serial_group` names each test's group; a scheduler of our own hands each group whole
  to one worker.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

SESSION_ENV = "IMFAULT_TEST_SESSION"
REPO = Path(__file__).resolve().parents[1]
# Long-lived system daemons a test may legitimately start (scripts/docker-engine): not leaks.
_DAEMONS = frozenset({"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2",
                      "docker-proxy"})
_leaked: list[str] = []


# ------------------------------------------------------------------ toxiproxy-server

def toxiproxy_required() -> bool:
    """Whether a missing `toxiproxy-server` must fail the tests (CI, or asked for)."""
    return (os.environ.get("CI", "").lower() in ("true", "1")
            or os.environ.get("IMFAULT_REQUIRE_TOXIPROXY") == "1")


@pytest.fixture(scope="session")
def toxiproxy_server() -> Path:
    """The `toxiproxy-server` binary; skip without it, fail instead under CI/required."""
    from harness._toxiproxy import find_toxiproxy_server
    from harness.errors import SetupError

    try:
        return Path(find_toxiproxy_server())
    except SetupError as exc:
        if toxiproxy_required():
            pytest.fail(f"toxiproxy-server is required here (CI=true or "
                        f"IMFAULT_REQUIRE_TOXIPROXY=1) but missing: {exc}", pytrace=False)
        pytest.skip(str(exc))


# ------------------------------------------------------------------ children of a test

# Exec'd in place (same pid): SIGINT back to its default, which a later exec keeps (an ignored
# signal stays ignored across exec, and Python does not reset an inherited SIG_IGN for SIGINT).
_DEFAULT_SIGINT_EXEC = ("import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
                        "os.execvp(sys.argv[1], sys.argv[1:])")


def popen_interruptible(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
    """`subprocess.Popen` in a new session with SIGINT at its default disposition."""
    return subprocess.Popen([sys.executable, "-c", _DEFAULT_SIGINT_EXEC, *argv],
                            start_new_session=True, **kwargs)


class Spawner:
    """`spawn(argv, store=, work_dirs=, docker=, **popen_kwargs)` -> Popen (cwd: the repo);
    `store`/`work_dirs`: where the child's runs keep `pids.json`; `docker`: it runs the docker
    backend (its resources carry the label `imfault.harness_pid=<child pid>`)."""

    def __init__(self) -> None:
        self.children: list[tuple[subprocess.Popen[Any], list[Path], bool]] = []

    def __call__(self, argv: Sequence[str], *, store: Path | None = None,
                 work_dirs: Sequence[Path] = (), docker: bool = False,
                 **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("cwd", REPO)
        child = popen_interruptible(argv, **kwargs)
        roots = [p for p in (store, *work_dirs) if p is not None]
        self.children.append((child, roots, docker))
        return child

    def finish(self) -> None:
        for child, roots, docker in self.children:
            if child.poll() is None:
                _kill_group(child)
            if roots:
                _clean(roots)
            if docker:
                _remove_docker_resources_of(child.pid)


def _kill_group(child: subprocess.Popen[Any]) -> None:
    for sig, wait_s in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(child.pid, sig)  # the child leads its own session and group
        except ProcessLookupError:
            pass
        try:
            child.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _clean(roots: list[Path]) -> None:
    """`imfault clean` limited to these store/work dirs (no temp dirs, no docker sweep)."""
    argv = [sys.executable, "-m", "harness", "clean", "--no-temp", "--no-docker",
            "--store", str(roots[0])]
    for root in roots[1:]:
        argv += ["--work-dir", str(root)]
    subprocess.run(argv, cwd=REPO, capture_output=True, timeout=120, check=False)


def _remove_docker_resources_of(pid: int) -> None:
    """Remove what a docker- or swarm-backend run of harness `pid` left (services and secrets
    first, then containers, networks and volumes)."""
    try:
        from harness.backends._docker_engine import HARNESS_PID_LABEL, docker_client
    except ImportError:
        return
    try:
        client = docker_client(timeout=10)
    except Exception:  # noqa: BLE001 - no engine: nothing of docker's to clean
        return
    try:
        label = {"label": f"{HARNESS_PID_LABEL}={pid}"}
        if (client.info().get("Swarm") or {}).get("ControlAvailable"):  # a swarm-backend run
            for swarm_resource in (*client.services.list(filters=label),
                                   *client.secrets.list(filters=label)):
                swarm_resource.remove()
        for container in client.containers.list(all=True, filters=label, ignore_removed=True):
            container.remove(force=True, v=True)
        for network in client.networks.list(filters=label):
            network.remove()
        for volume in client.volumes.list(filters=label):
            volume.remove(force=True)
    finally:
        client.close()


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[Any]]]:
    """Start command-line children that are ended, with what they started, whatever happens."""
    spawner = Spawner()
    try:
        yield spawner
    finally:
        spawner.finish()


# ------------------------------------------------------------------ the leak guard

def pytest_configure(config: pytest.Config) -> None:
    os.environ[SESSION_ENV] = secrets.token_hex(8)  # fresh, also in a pytest run by a test
    _hypothesis_profile()


def _hypothesis_profile() -> None:
    """Property tests judge behaviour, not speed (speed has its benchmarks): no per-example
    deadline and no "too slow" health check, which fail on a shared or busy machine."""
    from hypothesis import HealthCheck, settings

    settings.register_profile("imfault-tests", deadline=None,
                              suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("imfault-tests")


# ------------------------------------------------------------------ parallel runs (pytest-xdist)

def serial_group(nodeid: str) -> str:
    """The work unit of a test under xdist (module doc): a machine-wide resource's, else its
    module's. From the node id alone, as xdist schedules by node id."""
    path, _, name = nodeid.partition("::")
    if path.startswith("tests/docker/") or "docker" in name or "swarm" in name:
        return "docker"
    if path.startswith("tests/systems/"):
        return "systems"
    return path


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """xdist's load-scope scheduling with `serial_group` as the scope: each group goes whole to
    one worker, in collection order. (Not `--dist loadgroup` markers: xdist turns them into a
    node id suffix, which pytest 9 no longer lets it set.)"""
    from xdist.scheduler import LoadScopeScheduling

    class SerialGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return serial_group(nodeid)

    return SerialGroupScheduling(config, log)


def _xdist_controller(config: pytest.Config) -> bool:
    """Whether this process hands tests to xdist workers (and so runs none itself)."""
    return not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses",
                                                               None))


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """xdist controller: collect what a worker's leak guard stopped."""
    _leaked.extend(getattr(node, "workeroutput", {}).get("imfault_leaked", []))


def _proc_text(pid: str, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _session_processes(token: str, temp_prefix: str) -> list[tuple[int, str]]:
    """Live processes (not zombies, not pytest) that belong to this session."""
    me = os.getpid()
    marker = f"{SESSION_ENV}={token}".encode()
    found: list[tuple[int, str]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        stat = _proc_text(entry.name, "stat").decode(errors="replace")
        try:
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        except (IndexError, ValueError):
            continue
        if state in ("Z", "X"):
            continue
        argv = _proc_text(entry.name, "cmdline").split(b"\0")
        cmd = b" ".join(argv).decode(errors="replace").strip()
        if Path(argv[0].decode(errors="replace")).name in _DAEMONS:
            continue
        ours = (marker in _proc_text(entry.name, "environ").split(b"\0")
                or (temp_prefix and temp_prefix in cmd)
                or (int(ppid) == me and ("-m imcluster" in cmd or "toxiproxy-server" in cmd)))
        if ours:
            found.append((int(entry.name), cmd))
    return found


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _xdist_controller(session.config):
        if _leaked:  # stopped by the workers' guards (pytest_testnodedown)
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    if not Path("/proc").is_dir():
        return
    from harness._procs import stop_pid

    token = os.environ.get(SESSION_ENV, "")
    factory = getattr(session.config, "_tmp_path_factory", None)
    basetemp = getattr(factory, "_basetemp", None)
    temp_prefix = f"{basetemp}{os.sep}" if basetemp is not None else ""
    leaked = _session_processes(token, temp_prefix)
    for pid, cmd in leaked:
        _leaked.append(f"{pid}: {cmd}")
        stop_pid(pid, grace=2.0)
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
    if leaked:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:  # an xdist worker: the controller fails the run
            workeroutput["imfault_leaked"] = list(_leaked)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _leaked:
        terminalreporter.section("leaked processes (stopped by pid; the session fails)",
                                 red=True)
        for line in _leaked:
            terminalreporter.write_line(line)
