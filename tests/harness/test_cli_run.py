"""`imfault run` option validation (exit 2), defaults, `imfault check` and `imfault clean`."""

import json
import os
import subprocess
import sys
import time

import pytest

from harness._cli_run import _cmdline, is_our_process
from harness.cli import build_parser, main


@pytest.mark.parametrize("argv, fragment", [
    (["--dcs", "0"], "--dcs"),
    (["--access-per-dc", "0"], "--access-per-dc"),
    (["--users", "1"], "--users"),
    (["--rate", "0"], "--rate"),
    (["--time-limit", "-1"], "--time-limit"),
    (["--nemesis", "partition-nowhere"], "unknown nemesis"),
    (["--nemesis-interval", "0"], "--nemesis-interval"),
    (["--wan-latency", "-5"], "--wan-latency"),
    (["--wan-jitter", "-5"], "--wan-jitter"),
    (["--gossip-interval", "0"], "--gossip-interval"),
    (["--gossip", "telepathy"], "--gossip"),
    (["--gossip-fanout", "0"], "--gossip-fanout"),
    (["--partition-style", "polite"], "--partition-style"),
    (["--delivery", "pigeon"], "--delivery"),
    (["--bug", "no-such-bug"], "--bug"),
    (["--roam", "1.5"], "--roam"),
    (["--locality", "-0.1"], "--locality"),
    (["--recovery-timeout", "0"], "--recovery-timeout"),
    (["--seed", "-3"], "--seed"),
    (["--name", "../escape"], "--name"),
    (["--backend", "cloud"], "--backend"),
    (["--dcs", "three"], "invalid int"),
])
def test_bad_options_exit_2_with_a_clear_message(argv, fragment, capsys, tmp_path):
    assert main(["run", "--store", str(tmp_path), *argv]) == 2
    assert fragment in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing started, nothing written


def test_defaults_are_design_defaults():
    args = build_parser().parse_args(["run"])
    assert (args.backend, args.dcs, args.access_per_dc, args.users, args.rate, args.time_limit,
            args.nemesis, args.nemesis_interval, args.wan_latency, args.wan_jitter,
            args.gossip_interval, args.gossip, args.partition_style, args.delivery, args.bug,
            args.roam, args.locality, args.recovery_timeout, args.store,
            args.exactly_once) == ("local", 5, 1, 50, 50, 30, [], 5, 200, 0, 100,
                                   "push+anti-entropy", "blackhole", "durable", [], 0.1, 0.7,
                                   60, "store", False)


def test_rumor_mode_and_fanout_reach_the_run_options_and_command():
    from harness._cli_run import options_from_args
    args = build_parser().parse_args(["run", "--gossip", "rumor-push-pull", "--gossip-fanout",
                                      "3", "--seed", "4"])
    options = options_from_args(args)
    assert (options.gossip, options.gossip_fanout) == ("rumor-push-pull", 3)
    assert "--gossip rumor-push-pull --gossip-fanout 3" in options.command()


def test_nemesis_lists_and_repeats_merge():
    from harness._cli_run import options_from_args
    args = build_parser().parse_args(["run", "--nemesis", "kill,pause", "--nemesis",
                                      "partition-one", "--bug", "gateway-drop", "--seed", "4"])
    options = options_from_args(args)
    assert options.nemesis == ["kill", "pause", "partition-one"] and options.seed == 4
    assert options.bug == ["gateway-drop"]


def _one_send_run(tmp_path):
    """A run directory with only a history: one acknowledged send, never received."""
    run = tmp_path / "run"
    run.mkdir()
    ops = [{"index": 0, "time": 1, "process": 0, "type": "invoke", "f": "send",
            "value": {"id": "m1", "from": "u001", "to": "u002", "dc": "dc1"}},
           {"index": 1, "time": 2, "process": 0, "type": "ok", "f": "send",
            "value": {"id": "m1", "from": "u001", "to": "u002", "dc": "dc1"}}]
    (run / "history.jsonl").write_text("".join(json.dumps(op) + "\n" for op in ops))
    return run


def test_check_works_with_only_a_history(tmp_path, capsys):
    run = _one_send_run(tmp_path)
    code = main(["check", str(run)])
    results = json.loads((run / "results.json").read_text())
    assert code in (1, 3) and results["valid"] in (False, "unknown")
    if "delivery" in results:  # with the checkers: m1 was acknowledged, never received, and
        # its recipient never logged in: not provably lost, and never a pass
        assert code == 3 and results["delivery"]["valid"] == "unknown"
        assert results["delivery"]["offline_at_end"] == ["u002"]
    assert main(["check", str(tmp_path / "nothing")]) == 2


def test_check_as_its_own_process_writes_everything_before_its_fast_exit(tmp_path):
    """`imfault check` as a process ends with os._exit (the parsed run is never freed): the
    verdict's exit code, results.json, report.html and the summary on stdout all come first."""
    run = _one_send_run(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "harness", "check", str(run)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert json.loads((run / "results.json").read_text())["valid"] == "unknown"
    assert (run / "report.html").stat().st_size > 0
    assert proc.stdout.rstrip().endswith(str(run / "report.html")), proc.stdout


def _spawn(argv):
    proc = subprocess.Popen(argv, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10  # until the exec is visible in /proc
    while "-c" not in _cmdline(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc


def _wait_gone(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    return False


def test_clean_stops_only_recorded_processes_that_still_run_our_command(tmp_path, capsys):
    ours = _spawn([sys.executable, "-c", "import time; time.sleep(120)", "imcluster", "hub"])
    stranger = _spawn([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        assert is_our_process(ours.pid, "dc1-hub") and not is_our_process(stranger.pid, "dc2-hub")
        work = tmp_path / "store" / "noop" / "20260101T000000" / "work"
        work.mkdir(parents=True)
        (work / "pids.json").write_text(json.dumps({
            "backend": "local", "harness_pid": 999_999_999,
            "pids": {"dc1-hub": ours.pid, "dc2-hub": stranger.pid}}))
        assert main(["clean", "--no-temp", "--no-docker", "--store", str(tmp_path / "store")]) == 0
        ours.wait(timeout=10)
        assert ours.returncode is not None
        assert stranger.poll() is None  # a pid reused by someone else's process is left alone
        assert not (work / "pids.json").exists()
        assert "stopped 1 process" in capsys.readouterr().out
    finally:
        for proc in (ours, stranger):
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_clean_leaves_a_live_run_alone(tmp_path):
    ours = _spawn([sys.executable, "-c", "import time; time.sleep(120)", "imcluster", "hub"])
    harness = _spawn([sys.executable, "-c", "import time; time.sleep(120)", "imfault", "run"])
    try:
        deadline = time.monotonic() + 10
        while "imfault" not in _cmdline(harness.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        (tmp_path / "pids.json").write_text(json.dumps({
            "harness_pid": harness.pid, "pids": {"dc1-hub": ours.pid}}))
        assert main(["clean", "--no-temp", "--no-docker", "--store", str(tmp_path)]) == 0
        assert ours.poll() is None and (tmp_path / "pids.json").exists()
    finally:
        for proc in (ours, harness):
            proc.kill()
            proc.wait()
