"""End-to-end `imfault run` on the local backend (real processes, real toxiproxy-server), and
Ctrl-C during a run leaving no child process behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.schema import validate_history

pytestmark = [pytest.mark.integration, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]
TEST_JSON_KEYS = {"dcs", "access_per_dc", "users", "rate", "time_limit", "nemesis",
                  "nemesis_interval", "wan_latency", "wan_jitter", "gossip_interval", "gossip",
                  "partition_style", "delivery", "bug", "roam", "locality", "recovery_timeout",
                  "seed", "store", "name", "exactly_once", "backend", "dc_names", "versions",
                  "command", "start_wall_ns", "phases"}


def _imfault(*args: str) -> list[str]:
    return [sys.executable, "-m", "harness", *args]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purposes
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _run(spawn, store: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """`imfault run ... --store STORE` to its end; on a timeout the `spawn` fixture stops it and
    what it started (`imfault clean` of the store)."""
    proc = spawn(_imfault("run", *args, "--store", str(store), "--no-progress"), store=store,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)


def test_run_end_to_end_writes_every_file(tmp_path, toxiproxy_server, spawn):
    store = tmp_path / "store"
    proc = _run(spawn, store, "--backend", "local", "--dcs", "3", "--time-limit", "8",
                "--seed", "7", timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "seed 7" in proc.stdout
    run = (store / "latest").resolve()
    assert run.parent.name == "noop" and (store / "noop" / "latest").resolve() == run
    assert str(run) in proc.stdout.replace("\n", "")

    test = json.loads((run / "test.json").read_text())
    assert TEST_JSON_KEYS <= set(test)
    assert test["seed"] == 7 and test["dc_names"] == ["dc1", "dc2", "dc3"]
    assert "--seed 7" in test["command"] and "--dcs 3" in test["command"]
    main, heal, recovery = (test["phases"][k] for k in ("main", "heal", "recovery"))
    assert main[0] < main[1] <= heal[0] <= heal[1] <= recovery[0] < recovery[1]
    assert 7.5e9 < main[1] - main[0] < 10e9

    assert validate_history(run / "history.jsonl") == []
    ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    fs = {op["f"] for op in ops}
    assert {"login", "send", "recv"} <= fs
    sends = [op for op in ops if op["f"] == "send" and op["type"] == "ok"]
    assert len(sends) > 150  # 50 ops/s for 8 s, most of them sends
    assert all(op["value"]["id"].startswith("m7-") for op in sends)

    events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
    assert events and [e["time"] for e in events] == sorted(e["time"] for e in events)
    assert set(events[0]) == {"time", "dc", "node", "event", "kind", "key", "origin", "seq"}
    assert {e["event"] for e in events} == {"originate", "apply"}
    assert 0 < events[0]["time"] < recovery[1]

    final = json.loads((run / "final.json").read_text())
    assert final["converged"] is True and set(final["hubs"]) == {"dc1", "dc2", "dc3"}
    vvs = [hub["vv"] for hub in final["hubs"].values()]
    assert all(vv == vvs[0] for vv in vvs)
    for dc, hub in final["hubs"].items():
        assert hub["node"] == f"{dc}-hub" and isinstance(hub["coords"], dict)

    results = json.loads((run / "results.json").read_text())
    assert results["valid"] is True
    assert results["delivery"]["lost_count"] == 0
    assert (run / "report.html").stat().st_size > 1000
    logs = {p.name for p in (run / "logs").iterdir()}
    assert {f"dc{i}-hub.log" for i in (1, 2, 3)} | {f"dc{i}-a1.log" for i in (1, 2, 3)} <= logs
    assert not (run / "work" / "pids.json").exists()  # clean stop
    index = (store / "index.html").read_text()  # refreshed at the end of the run
    assert f'href="noop/{run.name}/report.html"' in index
    assert f"index: {store / 'index.html'}" in proc.stdout.replace("\n", "")


def _running_cluster(proc, store: Path) -> dict[str, int]:
    """Once `imfault run` (`proc`) has its 3-DC cluster up and ops flowing: its pids by name."""
    recorded: dict[str, int] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and proc.poll() is None:
        pid_files = list(store.glob("*/*/work/pids.json"))
        history = list(store.glob("*/*/history.jsonl"))
        if pid_files and history and history[0].stat().st_size > 2000:
            recorded = json.loads(pid_files[0].read_text())["pids"]
            if len(recorded) >= 7:  # toxiproxy + 3 hubs + 3 access nodes
                break
        time.sleep(0.2)
    assert len(recorded) >= 7, "the run did not get going"
    assert all(_alive(pid) for pid in recorded.values())
    return recorded


@pytest.mark.parametrize(("first", "again"), [(signal.SIGINT, None),
                                              (signal.SIGINT, signal.SIGINT),
                                              (signal.SIGINT, signal.SIGTERM),
                                              (signal.SIGTERM, None)],
                         ids=["once", "SIGINT-again-during-teardown", "SIGTERM-during-teardown",
                              "SIGTERM-once"])
def test_sigint_during_a_run_leaves_no_child_process(tmp_path, toxiproxy_server, spawn, first,
                                                     again):
    """Ctrl-C (or SIGTERM) ends the run with exit 130 after its teardown; a second Ctrl-C or a
    SIGTERM (sent over and over while it tears down) does not cut the teardown short."""
    store = tmp_path / "store"
    output = tmp_path / "output.txt"
    with output.open("w") as sink:
        proc = spawn(_imfault("run", "--dcs", "3", "--time-limit", "60", "--seed", "3",
                              "--store", str(store), "--no-progress"),
                     store=store, stdout=sink, stderr=subprocess.STDOUT)
    recorded = _running_cluster(proc, store)
    proc.send_signal(first)
    deadline = time.monotonic() + 60
    while (again is not None and proc.poll() is None and time.monotonic() < deadline
           and any(_alive(p) for p in recorded.values())):  # while it tears the cluster down
        time.sleep(0.05)
        proc.send_signal(again)
    assert proc.wait(timeout=60) == 130, output.read_text()
    # no traceback, nor what an unwinding cut short prints without one (the signal used to be
    # raised inside whichever task ran, and raised again in every task awaiting it)
    for shape in ("Traceback", "Task was destroyed", "Exception ignored", "never retrieved"):
        assert shape not in output.read_text(), output.read_text()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in recorded.values()):
        time.sleep(0.1)
    assert [name for name, pid in recorded.items() if _alive(pid)] == [], output.read_text()
    run = next(store.glob("*/*/history.jsonl")).parent
    assert not (run / "work" / "pids.json").exists()  # the teardown finished
    assert validate_history(run / "history.jsonl") == []  # still checkable


def test_setup_error_exits_4_with_advice_and_leaves_the_run_dir(tmp_path):
    env = dict(os.environ, IMFAULT_TOXIPROXY_SERVER=str(tmp_path / "missing-toxiproxy-server"))
    proc = subprocess.run(_imfault("run", "--dcs", "2", "--time-limit", "2", "--seed", "1",
                                   "--store", str(tmp_path / "store"), "--no-progress"),
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=env,
                          check=False)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "setup error" in proc.stderr and "IMFAULT_TOXIPROXY_SERVER" in proc.stderr
    run = (tmp_path / "store" / "latest").resolve()
    assert json.loads((run / "test.json").read_text())["seed"] == 1


def test_partition_halves_on_five_dcs_is_valid_and_records_grudges(tmp_path, toxiproxy_server,
                                                                    spawn):
    """Issue 3's "done when" scenario."""
    store = tmp_path / "store"
    proc = _run(spawn, store, "--backend", "local", "--dcs", "5", "--time-limit", "20",
                "--nemesis", "partition-halves", "--seed", "7", timeout=400)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = (store / "partition-halves" / "latest").resolve()
    assert validate_history(run / "history.jsonl") == []
    ops = [json.loads(line) for line in (run / "history.jsonl").read_text().splitlines()]
    starts = [op for op in ops if op["f"] == "start-partition" and op["type"] == "info"]
    assert starts
    for op in starts:
        grudge = op["value"]["grudge"]
        assert set(grudge) == {f"dc{i}" for i in range(1, 6)}
        assert any(grudge.values())  # somebody cannot hear somebody
    assert any(op["f"] == "stop-partition" for op in ops)
    for name in ("test.json", "history.jsonl", "events.jsonl", "final.json", "results.json",
                 "report.html"):
        assert (run / name).stat().st_size > 0, name
