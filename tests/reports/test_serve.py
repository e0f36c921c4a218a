"""`imfault serve`: the index lists runs newest first coloured by verdict and serves reports."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from reports_synthetic_run import make_run

import reports
from reports._verdict import VERDICT_COLOURS


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as err:
        return err.code, ""


@pytest.fixture
def store(tmp_path: Path) -> Path:
    invalid = make_run(tmp_path)  # synthetic/20260101T000000, invalid
    valid_dir = invalid.parent.parent / "clean" / "20260102T000000"
    valid_dir.mkdir(parents=True)
    (valid_dir / "history.jsonl").write_text("")
    (valid_dir / "test.json").write_text(json.dumps({"name": "clean"}))
    results = {"valid": True, "delivery": {"valid": True, "lost": [], "lost_count": 0}}
    (valid_dir / "results.json").write_text(json.dumps(results))
    crashed = invalid.parent.parent / "crashed" / "20251231T000000"
    crashed.mkdir(parents=True)
    (crashed / "history.jsonl").write_text('{"index": 0, "time": 0, "process": 0, "type": "inv')
    (invalid.parent / "latest").symlink_to(invalid.name)
    return invalid.parent.parent


def test_index_lists_runs_newest_first_with_verdict_colours(store: Path) -> None:
    server, thread = reports.serve_in_thread(store)
    try:
        url = reports.server_url(server)
        assert url.startswith("http://127.0.0.1:")
        status, index = _get(url)
        assert status == 200
        rows = re.findall(r'<tr class="run (\w+)" data-verdict="\w+" data-name="[^"]*">'
                          r'<td class="v">(\w+)</td><td class="r"><a href="([^"]+)"[^>]*>', index)
        assert [(verdict, shown) for verdict, shown, _link in rows] == [
            ("valid", "valid"), ("invalid", "invalid"), ("unknown", "unknown")]
        for verdict, colour in VERDICT_COLOURS.items():  # the verdict cell's colour
            assert f".{verdict} .v,.badge.{verdict}{{background:{colour}}}" in index
        links = [link for _v, _c, link in rows]
        assert links[1] == "runs/synthetic/20260101T000000/report.html"
        assert "latest" not in index
        assert "delivery, convergence (lost 1, duplicated 1, misdelivered 1, unexpected 1)" in index
        assert "not checked (no results.json)" in index
        row_start = index.index('data-verdict="valid"')
        valid_row = index[row_start:index.index("</tr>", row_start)]
        assert valid_row.endswith("<td class=\"f\"></td>")  # nothing wrong with the clean run
        status, report = _get(url + links[1])  # rendered on request
        assert status == 200 and "Verdict: INVALID" in report
        assert (store / "synthetic" / "20260101T000000" / "report.html").is_file()
        status, crashed = _get(url + links[2])
        assert status == 200 and "Verdict: " in crashed
        assert _get(url + "runs/../../etc/passwd")[0] in (403, 404)
        assert _get(url + "runs/%2e%2e/%2e%2e/etc/passwd")[0] in (403, 404)
        assert _get(url + "nothing")[0] == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
    assert not thread.is_alive()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_imfault_serve_subprocess_prints_url_and_stops_on_ctrl_c(store: Path, spawn: object) -> None:
    port = _free_port()
    proc = spawn(  # SIGINT at its default disposition, ended whatever happens
        [sys.executable, "-m", "harness", "serve", "--store", str(store), "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert f"http://127.0.0.1:{port}/" in line, line
        deadline = time.monotonic() + 10
        while True:
            try:
                status, index = _get(f"http://127.0.0.1:{port}/")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert status == 200 and 'data-verdict="invalid"' in index
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
