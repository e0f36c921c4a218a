"""The WAN between datacenters: a real `toxiproxy-server` and one proxy per ordered DC pair.

This is the only module that imports the Toxiproxy client library (`toxiproxy-python`).

Layout (DESIGN §2 "WAN"): proxy `src->dst` (named `src_to_dst`, a name Toxiproxy accepts in its
URLs) listens on a loopback port and forwards to the hub of `dst`; the hub of `src` is started with
`--peer dst=<that address>`, so every byte between two hubs crosses exactly one proxy. On proxy
`src->dst` the *upstream* stream carries bytes from `src` to `dst` and the *downstream* stream the
replies from `dst` back to `src`.

Toxics are named by their purpose so they can be told apart and removed selectively:
`baseline_latency_<stream>` (the WAN latency, never removed), `cut_<stream>` (a partition,
removed by `heal`) and `degrade_<kind>_<n>_<stream>` (a degradation, removed by `restore_wan`).
A `refuse`-style partition disables proxies instead (re-enabled by `heal`).

toxiproxy-python keeps the API address in class attributes (`APIConsumer.host/port`); `_bind`
sets them before every call, so one process can talk to one server at a time safely and to
several servers sequentially.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import requests
from toxiproxy.api import APIConsumer  # type: ignore[import-untyped]
from toxiproxy.exceptions import NotFound  # type: ignore[import-untyped]
from toxiproxy.server import Toxiproxy  # type: ignore[import-untyped]

from imcluster._config import PARTITION_STYLES

from ._procs import ChildProcess, free_port, log_tail, start_child
from .errors import SetupError, UsageError

__all__ = [
    "DEGRADE_KINDS",
    "PARTITION_STYLES",
    "ToxiproxyServer",
    "Wan",
    "find_toxiproxy_server",
    "proxy_name",
]

TOXIPROXY_VERSION = "v2.12.0"
DEGRADE_KINDS = ("latency", "bandwidth", "slicer", "reset_peer")
STREAMS = ("upstream", "downstream")
_HTTP_TIMEOUT = 5.0
_REMOVE_HTTP_TIMEOUT = 30.0  # above toxiproxy-server's own 25 s request timeout
_REMOVE_DEADLINE_S = 60.0
_DEGRADE_DEFAULTS: dict[str, dict[str, Any]] = {
    "latency": {"latency": 1000, "jitter": 0},
    "bandwidth": {"rate": 16},
    "slicer": {"average_size": 64, "size_variation": 32, "delay": 10},
    "reset_peer": {"timeout": 0},
}

Link = tuple[str, str]


def find_toxiproxy_server() -> str:
    """Path of the `toxiproxy-server` binary: `$IMFAULT_TOXIPROXY_SERVER`, then `PATH`, then
    `$IMFAULT_TOOLS/bin/toxiproxy-server` (default `~/.cache/imfault`, where `scripts/bootstrap`
    builds it); `SetupError` saying how to get one otherwise."""
    from_env = os.environ.get("IMFAULT_TOXIPROXY_SERVER")
    if from_env:
        if os.path.isfile(from_env) and os.access(from_env, os.X_OK):
            return from_env
        raise SetupError(
            f"IMFAULT_TOXIPROXY_SERVER={from_env} is not an executable file; fix the variable or "
            "unset it"
        )
    on_path = shutil.which("toxiproxy-server")
    if on_path:
        return on_path
    tools = os.environ.get("IMFAULT_TOOLS") or str(Path.home() / ".cache" / "imfault")
    cached = Path(tools) / "bin" / "toxiproxy-server"
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    raise SetupError(
        "toxiproxy-server not found (looked at $IMFAULT_TOXIPROXY_SERVER, PATH and "
        f"{cached}). Run scripts/bootstrap, or: go install "
        f"github.com/Shopify/toxiproxy/v2/cmd/server@{TOXIPROXY_VERSION} and put the resulting "
        "binary on PATH as toxiproxy-server"
    )


def proxy_name(src: str, dst: str) -> str:
    """The Toxiproxy name of the proxy carrying `src`'s connections to `dst`."""
    return f"{src}_to_{dst}"


class ToxiproxyServer:
    """A `toxiproxy-server` subprocess listening for its API on `host:port` (loopback)."""

    def __init__(
        self,
        binary: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | None = None,
        seed: int | None = None,
    ) -> None:
        self.binary = binary
        self.host = host
        self.port = port
        self.log_path = log_path
        self.seed = seed
        self._child: ChildProcess | None = None

    @property
    def api(self) -> tuple[str, int]:
        """(host, port) of the HTTP API."""
        if self.port is None:
            raise SetupError("toxiproxy-server has not been started")
        return (self.host, self.port)

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child else None

    @property
    def child(self) -> ChildProcess | None:
        return self._child

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait (at most `timeout` s) until its API answers."""
        binary = self.binary or find_toxiproxy_server()
        if self.port is None:
            self.port = free_port(self.host)
        if self.log_path is None:
            fd, name = tempfile.mkstemp(prefix="toxiproxy-", suffix=".log")
            os.close(fd)
            self.log_path = Path(name)
        argv = [binary, "-host", self.host, "-port", str(self.port)]
        if self.seed is not None:
            argv += ["-seed", str(self.seed)]
        self._child = start_child(argv, name="toxiproxy-server", log_path=self.log_path)
        deadline = time.monotonic() + timeout
        url = f"http://{self.host}:{self.port}/version"
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1.0) as resp:
                    if resp.status == 200:
                        return
            except (OSError, urllib.error.URLError):
                pass
            if not self._child.is_running():
                raise SetupError(
                    f"toxiproxy-server exited with code {self._child.popen.returncode}; log "
                    f"{self.log_path}:\n{log_tail(self.log_path)}"
                )
            if time.monotonic() >= deadline:
                self.stop()
                raise SetupError(
                    f"toxiproxy-server API on {self.host}:{self.port} did not answer within "
                    f"{timeout:.0f} s; log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server by pid (SIGTERM, then SIGKILL). Idempotent."""
        if self._child is not None:
            self._child.stop()


def _bind(host: str, port: int) -> None:
    """Point toxiproxy-python's class-level API address at our server."""
    APIConsumer.host = host
    APIConsumer.port = port


class Wan:
    """The proxies and toxics of one Toxiproxy server: links, partitions, degradations."""

    def __init__(self, api_host: str, api_port: int, dcs: list[str]) -> None:
        self.api_host = api_host
        self.api_port = api_port
        self.dcs = list(dcs)
        self._links: dict[Link, str] = {}
        self._degrade_counter = 0

    # ------------------------------------------------------------------ plumbing
    def _get(self, url: str) -> Any:
        _bind(self.api_host, self.api_port)
        return APIConsumer.get(url, timeout=_HTTP_TIMEOUT).json()

    def _post(self, url: str, body: dict[str, Any]) -> Any:
        _bind(self.api_host, self.api_port)
        return APIConsumer.post(url, json=body, timeout=_HTTP_TIMEOUT).json()

    def _delete(self, url: str, timeout: float = _HTTP_TIMEOUT) -> bool:
        """DELETE `url`; True when it is gone (or was), False when the server did not answer in
        time or answered an error (it gives up on a request after 25 s with HTTP 503)."""
        _bind(self.api_host, self.api_port)
        try:
            response = APIConsumer.delete(url, timeout=timeout)
        except NotFound:
            return True
        except requests.RequestException:
            return False
        return bool(response.status_code < 300)

    def _remove_toxic(self, link: Link, name: str) -> None:
        """Remove toxic `name` from `link`, waiting out a slow removal.

        Toxiproxy removes a toxic only after handing on the bytes it holds; when the far end is
        not reading (a paused or busy hub, a full socket) each held chunk can take up to 5 s, so
        a removal may outlast a short HTTP timeout (toxiproxy-server issues #500, #558). Retry,
        checking whether the removal landed anyway, for at most `_REMOVE_DEADLINE_S`; then fail
        with a message naming the toxic (the heal op records it as an error)."""
        proxy = proxy_name(*link)
        url = f"/proxies/{proxy}/toxics/{name}"
        deadline = time.monotonic() + _REMOVE_DEADLINE_S
        while True:
            remaining = deadline - time.monotonic()
            if self._delete(url, timeout=max(1.0, min(_REMOVE_HTTP_TIMEOUT, remaining))):
                return
            with contextlib.suppress(requests.RequestException):
                if name not in {str(t["name"]) for t in self._get(f"/proxies/{proxy}/toxics")}:
                    return
            if time.monotonic() >= deadline:
                raise SetupError(f"toxiproxy-server did not remove toxic {name} from {proxy} "
                                 f"within {_REMOVE_DEADLINE_S:.0f} s (its far end is not "
                                 "reading?); see the toxiproxy log")
            time.sleep(0.5)

    def _add_toxic(self, link: Link, name: str, kind: str, stream: str,
                   attributes: dict[str, Any], toxicity: float = 1.0) -> None:
        self._post(
            f"/proxies/{proxy_name(*link)}/toxics",
            {"name": name, "type": kind, "stream": stream, "toxicity": toxicity,
             "attributes": attributes},
        )

    def _set_enabled(self, link: Link, enabled: bool) -> None:
        self._post(f"/proxies/{proxy_name(*link)}", {"enabled": enabled})

    def _check_link(self, link: Link) -> Link:
        src, dst = link
        if src not in self.dcs or dst not in self.dcs or src == dst:
            raise UsageError(f"no WAN link {src}->{dst} among DCs {self.dcs}")
        return (src, dst)

    def links(self) -> list[Link]:
        """Every ordered DC pair (src, dst), src != dst."""
        return [(s, d) for s in self.dcs for d in self.dcs if s != d]

    # ------------------------------------------------------------------ set-up
    def create_links(
        self,
        upstreams: dict[str, str],
        latency_ms: float,
        jitter_ms: float,
        listen_host: str = "127.0.0.1",
        listen_hosts: dict[str, str] | None = None,
    ) -> dict[Link, str]:
        """Create proxy `src->dst` for every ordered pair, forwarding to `upstreams[dst]`
        ("host:port" of dst's hub), with a baseline `latency` toxic on both streams.
        Proxy `src->dst` listens on `listen_hosts[src]` when given (the docker backend: the
        Toxiproxy container's address on src's network), else on `listen_host`, at a port the
        server picks. Returns {(src, dst): "host:port" the proxy listens on}."""
        missing = [dc for dc in self.dcs if dc not in upstreams]
        if missing:
            raise UsageError(f"no upstream address for DCs {missing}")
        client = Toxiproxy()
        _bind(self.api_host, self.api_port)
        for src, dst in self.links():
            name = proxy_name(src, dst)
            host = (listen_hosts or {}).get(src, listen_host)
            existing = client.get_proxy(name)
            if existing is not None:
                existing.destroy()
            info = self._post("/proxies", {"name": name, "upstream": upstreams[dst],
                                           "listen": f"{host}:0", "enabled": True})
            self._links[(src, dst)] = str(info["listen"])
            for stream in STREAMS:
                self._add_toxic((src, dst), f"baseline_latency_{stream}", "latency", stream,
                                {"latency": round(latency_ms), "jitter": round(jitter_ms)})
        return dict(self._links)

    def link_address(self, src: str, dst: str) -> str:
        """"host:port" where proxy `src->dst` listens (what src's hub uses as peer dst)."""
        try:
            return self._links[(src, dst)]
        except KeyError:
            raise UsageError(f"no WAN link {src}->{dst}; call create_links first") from None

    # ------------------------------------------------------------------ partitions
    def apply_grudge(self, grudge: dict[str, list[str]], style: str = "blackhole") -> None:
        """Cut every byte from b to a for each b in `grudge[a]` (a cannot hear from b).

        `blackhole`: a `timeout` toxic with timeout 0 (bytes vanish, connections stay open) on
        proxy b->a's upstream stream and proxy a->b's downstream stream. `refuse`: proxies b->a and
        a->b are disabled (connections are closed and refused; this cuts both directions, the
        nature of a refused connection). Cuts add up until `heal`.
        """
        if style not in PARTITION_STYLES:
            raise UsageError(f"unknown partition style {style!r}; use one of {PARTITION_STYLES}")
        cuts: set[tuple[Link, str]] = set()
        for deaf, sources in grudge.items():
            for source in sources:
                cuts.add((self._check_link((source, deaf)), "upstream"))
                cuts.add((self._check_link((deaf, source)), "downstream"))
        state = self._state()
        for link, stream in sorted(cuts):
            enabled, toxics = state[link]
            if style == "refuse":
                if enabled:
                    self._set_enabled(link, False)
                    state[link] = (False, toxics)
            elif f"cut_{stream}" not in toxics:
                self._add_toxic(link, f"cut_{stream}", "timeout", stream, {"timeout": 0})

    def heal(self) -> None:
        """End every partition: remove the `cut_*` toxics and re-enable every proxy. Baseline
        latency and degradations (see `restore_wan`) stay."""
        for link, (enabled, toxics) in self._state().items():
            for name in sorted(toxics):
                if name.startswith("cut_"):
                    self._remove_toxic(link, name)
            if not enabled:
                self._set_enabled(link, True)

    def _state(self) -> dict[Link, tuple[bool, set[str]]]:
        """{link: (enabled, names of its toxics)} for our links, from one API call."""
        proxies = self._get("/proxies")
        state: dict[Link, tuple[bool, set[str]]] = {}
        for link in self.links():
            info = proxies.get(proxy_name(*link))
            if info is None:
                raise SetupError(f"proxy {proxy_name(*link)} is missing on toxiproxy-server "
                                 f"{self.api_host}:{self.api_port}; was create_links called?")
            state[link] = (bool(info.get("enabled", True)),
                           {str(t["name"]) for t in info.get("toxics") or []})
        return state

    # ------------------------------------------------------------------ degradation
    def degrade(
        self,
        kind: str,
        links: Iterable[Link] | None = None,
        *,
        stream: str = "both",
        toxicity: float = 1.0,
        **attributes: Any,
    ) -> list[dict[str, Any]]:
        """Add a Toxiproxy toxic of `kind` (`latency`, `bandwidth`, `slicer`, `reset_peer`) with
        `attributes` (Toxiproxy's names: latency/jitter ms; rate KB/s; average_size/
        size_variation bytes, delay us; timeout ms) on `links` (default: all) and `stream`
        (`upstream`, `downstream` or `both`). Returns what was added (for the op's value)."""
        if kind not in DEGRADE_KINDS:
            raise UsageError(f"unknown WAN degradation {kind!r}; use one of {DEGRADE_KINDS}")
        streams = STREAMS if stream == "both" else (stream,)
        if any(s not in STREAMS for s in streams):
            raise UsageError(f"unknown stream {stream!r}; use upstream, downstream or both")
        attrs = {**_DEGRADE_DEFAULTS[kind], **attributes}
        chosen = [self._check_link((link[0], link[1])) for link in links] \
            if links is not None else self.links()
        added: list[dict[str, Any]] = []
        for link in chosen:
            self._degrade_counter += 1
            for s in streams:
                name = f"degrade_{kind}_{self._degrade_counter}_{s}"
                self._add_toxic(link, name, kind, s, attrs, toxicity)
                added.append({"link": f"{link[0]}->{link[1]}", "kind": kind, "stream": s,
                              "attributes": attrs, "toxic": name})
        return added

    def restore_wan(self) -> None:
        """Remove every degradation (`degrade_*` toxics); partitions and baselines stay."""
        for link, (_, toxics) in self._state().items():
            for name in sorted(toxics):
                if name.startswith("degrade_"):
                    self._remove_toxic(link, name)

    # ------------------------------------------------------------------ inspection
    def active_faults(self) -> list[dict[str, Any]]:
        """Every fault in force, read from the server: disabled proxies (`refuse`), cut toxics
        (`blackhole`) and degradations; each `{link, kind, stream?, toxic?, attributes?}`."""
        proxies = self._get("/proxies")
        by_name = {proxy_name(*link): link for link in self.links()}
        faults: list[dict[str, Any]] = []
        for name, info in sorted(proxies.items()):
            link = by_name.get(name)
            if link is None:
                continue
            label = f"{link[0]}->{link[1]}"
            if not info.get("enabled", True):
                faults.append({"link": label, "kind": "refuse"})
            for toxic in info.get("toxics") or []:
                tname = str(toxic["name"])
                if tname.startswith("baseline_"):
                    continue
                kind = "blackhole" if tname.startswith("cut_") else str(toxic["type"])
                faults.append({"link": label, "kind": kind, "stream": toxic["stream"],
                               "toxic": tname, "attributes": toxic.get("attributes", {})})
        return faults

    def close(self) -> None:
        """Delete our proxies (best effort; the server may already be gone)."""
        for link in list(self._links):
            with contextlib.suppress(Exception):  # teardown is best effort
                self._delete(f"/proxies/{proxy_name(*link)}")
        self._links.clear()
