"""`imfault serve`: a small stdlib HTTP server that lists a store's runs and serves their reports.

The index lists every run directory (`<store>/<name>/<YYYYmmddTHHMMSS>/`) newest first, coloured
by the verdict in its `results.json`. A run without `report.html` gets one rendered on request.
Binds 127.0.0.1 by default; only files inside the store are served.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import threading
import urllib.parse
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ._runfiles import read_json
from ._svg import esc
from ._verdict import (
    PROBLEM_KINDS,
    VERDICT_COLOURS,
    checker_names,
    overall_verdict,
    problem_count,
    verdict_of,
)

RUN_MARKERS = ("history.jsonl", "test.json", "results.json")


@dataclass
class RunEntry:
    """One run directory of the store."""

    path: Path
    relative: str
    verdict: str
    started_ns: int
    findings: str = ""


def _findings(results: dict[str, Any] | None) -> str:
    """A one-line digest of what went wrong: the invalid checkers and the delivery counts."""
    if not results:
        return "no results.json"
    invalid = [name for name in checker_names(results)
               if verdict_of(results[name].get("valid")) == "invalid"]
    delivery = results.get("delivery")
    counts = [f"{kind} {problem_count(delivery, kind)}" for kind in PROBLEM_KINDS
              if problem_count(delivery, kind)]
    if not invalid:
        return ", ".join(counts)
    return ", ".join(invalid) + (f" ({', '.join(counts)})" if counts else "")


def _started_ns(path: Path, test: dict[str, Any] | None) -> int:
    if test and isinstance(test.get("start_wall_ns"), int):
        return int(test["start_wall_ns"])
    try:
        stamp = dt.datetime.strptime(path.name, "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
        return int(stamp.timestamp()) * 1_000_000_000
    except ValueError:
        return path.stat().st_mtime_ns


def find_runs(store: Path) -> list[RunEntry]:
    """Run directories one or two levels under `store` (symlinks such as `latest` skipped)."""
    store = Path(store)
    candidates: list[Path] = []
    if not store.is_dir():
        return []
    for first in sorted(store.iterdir()):
        if first.is_symlink() or not first.is_dir():
            continue
        if any((first / m).is_file() for m in RUN_MARKERS):
            candidates.append(first)
            continue
        for second in sorted(first.iterdir()):
            if not second.is_symlink() and second.is_dir() and any(
                (second / m).is_file() for m in RUN_MARKERS
            ):
                candidates.append(second)
    runs = []
    for path in candidates:
        test = read_json(path / "test.json")
        results = read_json(path / "results.json")
        runs.append(RunEntry(path, path.relative_to(store).as_posix(), overall_verdict(results),
                             _started_ns(path, test), _findings(results)))
    runs.sort(key=lambda run: (run.started_ns, run.relative), reverse=True)
    return runs


def index_html(store: Path) -> str:
    """The index page: one row per run, newest first, coloured by verdict."""
    rows = []
    for run in find_runs(store):
        link = "/runs/" + urllib.parse.quote(run.relative) + "/report.html"
        when = dt.datetime.fromtimestamp(run.started_ns / 1e9, dt.UTC)
        rows.append(
            f'<tr class="run {run.verdict}" data-verdict="{run.verdict}">'
            f'<td style="background:{VERDICT_COLOURS[run.verdict]};color:#fff">{run.verdict}</td>'
            f'<td><a href="{esc(link)}">{esc(run.relative)}</a></td>'
            f"<td>{when:%Y-%m-%d %H:%M:%S} UTC</td><td>{esc(run.findings)}</td></tr>"
        )
    body = "".join(rows) or '<tr><td colspan="4">No runs in this store yet.</td></tr>'
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>imfault runs</title>'
        "<style>body{font-family:system-ui,sans-serif;margin:24px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 10px}"
        "td:nth-child(3){white-space:nowrap}</style></head><body>"
        f"<h1>imfault runs in {esc(store)}</h1><table><thead><tr><th>verdict</th><th>run</th>"
        "<th>started</th><th>findings</th></tr></thead>"
        f"<tbody>{body}</tbody></table></body></html>\n"
    )


class _Handler(BaseHTTPRequestHandler):
    store: Path

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        if path in ("/", "/index.html"):
            self._send(HTTPStatus.OK, index_html(self.store).encode(), "text/html; charset=utf-8")
            return
        if not path.startswith("/runs/"):
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        root = self.store.resolve()
        target = (root / path[len("/runs/"):]).resolve()
        if not target.is_relative_to(root):
            self._send(HTTPStatus.FORBIDDEN, b"forbidden\n", "text/plain")
            return
        if target.name == "report.html" and not target.exists() and target.parent.is_dir():
            from ._api import write_report

            write_report(target.parent)
        if not target.is_file():
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            return
        content_type = mimetypes.guess_type(target.name)[0] or "text/plain"
        if target.suffix in (".jsonl", ".log"):
            content_type = "text/plain"
        if content_type.startswith("text/"):
            content_type += "; charset=utf-8"
        self._send(HTTPStatus.OK, target.read_bytes(), content_type)


def make_server(store: Path, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """A server bound to (host, port) for `store`; port 0 picks a free port."""
    handler = type("StoreHandler", (_Handler,), {"store": Path(store)})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def server_url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    host = host.decode() if isinstance(host, bytes) else str(host)
    return f"http://{host}:{port}/"


def serve(store: Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until Ctrl-C, printing the URL first."""
    server = make_server(store, host, port)
    print(f"imfault serve: {server_url(server)} (store {Path(store).resolve()}); Ctrl-C stops",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_in_thread(
    store: Path, host: str = "127.0.0.1", port: int = 0
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start a server in a daemon thread (tests, embedding); stop with `server.shutdown()`."""
    server = make_server(store, host, port)
    thread = threading.Thread(target=server.serve_forever, name="imfault-serve", daemon=True)
    thread.start()
    return server, thread
