"""`imfault serve`: a small stdlib HTTP server that lists a store's runs and serves their reports.

The index is the page `imfault index` writes (`_index`): every run directory
(`<store>/<name>/<YYYYmmddTHHMMSS>/`) newest first, coloured by the verdict in its `results.json`.
A run without `report.html` gets one rendered on request.
Binds 127.0.0.1 by default; only files inside the store are served.
"""

from __future__ import annotations

import mimetypes
import threading
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ._index import index_page
from ._runlist import RunRow, scan_store


def find_runs(store: Path) -> list[RunRow]:
    """Every run of the store, newest first (see `_runlist.scan_store`)."""
    return scan_store(Path(store))


def index_html(store: Path) -> str:
    """The store's index page (the same page `imfault index` writes), linking reports under
    `/runs/` where they are rendered on request."""
    return index_page(Path(store), serving=True)


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
