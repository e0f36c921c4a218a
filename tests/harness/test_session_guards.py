"""The test suite's own guards (tests/conftest.py): children interruptible even when pytest runs
with SIGINT ignored, a missing toxiproxy-server failing under CI instead of skipping, and a
process leaked by a test failing the session.

The last two run pytest in a subprocess on real test files (or a test written here), with the
suite's own conftest."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
NEEDS_TOXIPROXY = [
    "tests/harness/test_runner_integration.py::test_run_end_to_end_writes_every_file",
    "tests/bugs/test_seeded_bugs.py::test_gateway_drop_loses_messages_whose_forward_failed",
    "tests/integration/test_cluster_up.py::test_sigint_during_start_up_leaves_nothing_behind",
]


def _pytest(args: list[str], env: dict[str, str], cwd: Path = REPO
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "-rsE", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def test_a_spawned_child_can_be_interrupted_when_pytest_ignores_sigint(
        spawn: Callable[..., subprocess.Popen[Any]]) -> None:
    """Some CI runners start jobs with SIGINT ignored; a plain Popen child inherits that, and
    Python keeps an inherited SIG_IGN, so a test sending it Ctrl-C would wait forever."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = spawn([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
                      stdout=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert child.stdout is not None and child.stdout.readline().strip() == "up"
    child.send_signal(signal.SIGINT)
    assert child.wait(timeout=10) == -signal.SIGINT  # KeyboardInterrupt, not ignored


@pytest.mark.parametrize("required", [{"CI": "true"}, {"IMFAULT_REQUIRE_TOXIPROXY": "1"}, {}],
                         ids=["CI", "IMFAULT_REQUIRE_TOXIPROXY", "not-required"])
def test_missing_toxiproxy_fails_under_ci_and_skips_otherwise(
        tmp_path: Path, required: dict[str, str]) -> None:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "IMFAULT_REQUIRE_TOXIPROXY", "PYTEST_ADDOPTS")}
    env.update(required, IMFAULT_TOXIPROXY_SERVER=str(tmp_path / "no-toxiproxy-server"))
    done = _pytest(NEEDS_TOXIPROXY, env)
    if required:
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"{len(NEEDS_TOXIPROXY)} error" in done.stdout, done.stdout
        assert "toxiproxy-server is required here" in done.stdout
    else:
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"{len(NEEDS_TOXIPROXY)} skipped" in done.stdout, done.stdout


LEAKY_TEST = '''
import subprocess, sys

def test_leaks_a_process():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    open("leaked.pid", "w").write(str(child.pid))
'''


# serially, and under pytest-xdist (a worker's guard stops it, the controller fails the run)
@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["serial", "xdist"])
def test_a_process_left_running_fails_the_session(tmp_path: Path, workers: list[str]) -> None:
    shutil.copy(REPO / "tests" / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_leaky.py").write_text(LEAKY_TEST)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get(
        "PYTHONPATH", "")]))
    done = _pytest([*workers, "test_leaky.py"], env, cwd=tmp_path)
    assert "1 passed" in done.stdout, done.stdout + done.stderr
    pid = int((tmp_path / "leaked.pid").read_text())
    assert done.returncode == 1, done.stdout  # the test passed, the session failed
    assert "leaked processes" in done.stdout and f"{pid}: " in done.stdout, done.stdout
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # stopped by pid (reaped by init once pytest exited)
    assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text()


@pytest.mark.integration
def test_spawn_ends_a_hung_run_and_the_cluster_it_started(
        tmp_path: Path, toxiproxy_server: Path, spawn: Any) -> None:
    """What the `spawn` finalizer does when a test fails or times out: here the harness hangs
    (stopped), so only its process group's SIGKILL ends it, and `imfault clean` of the test's
    store stops the nodes it started (they live in sessions of their own)."""
    store = tmp_path / "store"
    child = spawn([sys.executable, "-m", "harness", "run", "--dcs", "2", "--time-limit", "60",
                   "--seed", "2", "--store", str(store), "--no-progress"], store=store,
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pids: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while len(pids) < 5 and time.monotonic() < deadline:  # toxiproxy, 2 hubs, 2 access nodes
        for path in store.glob("*/*/work/pids.json"):
            try:
                pids = json.loads(path.read_text())["pids"]
            except ValueError:
                pass
        time.sleep(0.2)
    assert len(pids) == 5, pids
    os.kill(child.pid, signal.SIGSTOP)  # a hung harness: its teardown never runs
    spawn.finish()
    assert child.returncode == -signal.SIGKILL
    assert [name for name, pid in pids.items() if _alive(pid)] == []


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")
