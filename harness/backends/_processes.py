"""What every backend whose nodes are local child processes shares: the `local` backend's
imcluster nodes and a system's servers (`harness.systems._procbackend`).

`ProcessCluster` holds the nodes, their command lines and children (by pid, `harness._procs`),
the real `toxiproxy-server` and its `Wan`; it gives the start template (a second start refused,
the work sub-directories made, everything stopped when starting fails), teardown by pid that
signals cannot interrupt, `pids.json` for `imfault clean`, and the process faults (kill, pause,
resume) by pid. A subclass gives `_start` (which nodes, in which order, how to tell they are
ready) and `restart`.
"""

from __future__ import annotations

import json
import os
import signal
from abc import abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._procs import ChildProcess
from .._signals import teardown_shield
from .._toxiproxy import ToxiproxyServer, Wan
from ..errors import SetupError
from ._base import Backend, ClusterSpec, NodeInfo, NodeRef

__all__ = ["ProcessCluster"]


class ProcessCluster(Backend):
    """Nodes as children of this process, toxiproxy-server between DCs (module docstring)."""

    work_subdirs: tuple[str, ...] = ("logs",)
    """Made under `spec.work_dir` before `_start`."""

    def __init__(self, ready_timeout: float) -> None:
        super().__init__()
        self.ready_timeout = ready_timeout
        self._toxiproxy: ToxiproxyServer | None = None
        self._wan: Wan | None = None
        self._nodes: dict[str, NodeInfo] = {}
        self._argv: dict[str, list[str]] = {}
        self._children: dict[str, ChildProcess] = {}
        self._stopped = False  # stopped cleanly: pids.json is gone and stays gone

    def path(self, *parts: str) -> Path:
        """A path under the cluster's work directory."""
        assert self.spec is not None
        return self.spec.work_dir.joinpath(*parts)

    # life cycle -----------------------------------------------------------------------------
    def start(self, spec: ClusterSpec) -> None:
        if self.spec is not None:
            raise SetupError("this backend was already started; make a new one")
        self.spec = spec
        for sub in self.work_subdirs:
            self.path(sub).mkdir(parents=True, exist_ok=True)
        try:
            self._start(spec)
        except BaseException:
            self.stop()
            raise

    @abstractmethod
    def _start(self, spec: ClusterSpec) -> None:
        """Start toxiproxy-server (`_start_toxiproxy`) and every node; return once all are up."""

    def _start_toxiproxy(self, spec: ClusterSpec) -> Wan:
        """The real toxiproxy-server (its pid recorded at once), and the `Wan` over it."""
        self._toxiproxy = ToxiproxyServer(log_path=self.path("logs", "toxiproxy.log"),
                                          seed=spec.seed)
        self._toxiproxy.start()
        self.write_state()
        self._wan = Wan(*self._toxiproxy.api, spec.dc_names)
        return self._wan

    def _stop_order(self) -> list[str]:
        """The nodes in the order they are stopped (default: the order they were started)."""
        return list(self._children)

    def stop(self) -> None:
        """Stop every node (`_stop_order`), then toxiproxy-server, each by pid. Idempotent.

        Every process is stopped even when stopping another one failed; the failures are then
        raised together as one `SetupError` and `pids.json` is kept for `imfault clean`. Signals
        cannot interrupt it (`teardown_shield`)."""
        with teardown_shield():
            stoppers: list[tuple[str, Callable[[], None]]] = [
                (name, self._children[name].stop) for name in self._stop_order()]
            if self._toxiproxy is not None:
                stoppers.append(("toxiproxy-server", self._toxiproxy.stop))
            errors: list[str] = []
            for name, stop in stoppers:
                try:
                    stop()
                except Exception as exc:  # noqa: BLE001 - stop the others, then report
                    errors.append(f"{name}: {type(exc).__name__}: {exc}")
        if errors:
            self.write_state()  # what still runs, for `imfault clean`
            where = self.spec.work_dir if self.spec is not None else "?"
            raise SetupError(f"stopping the cluster failed for {'; '.join(errors)}; "
                             f"`imfault clean --work-dir {where}` stops what is left")
        self.drop_state()

    # pids.json --------------------------------------------------------------------------------
    def state_fields(self) -> dict[str, Any]:
        """What `pids.json` holds besides the pids (default: nothing): e.g. the programs the
        pids run, the firewall rules to delete."""
        return {}

    def leftovers(self) -> dict[str, list[Any]]:
        """What a killed harness would leave besides processes, for `imfault clean` (written to
        `pids.json`): {"iptables": [rule specs to delete], "dirs": [directories to remove]}."""
        return {}

    def write_state(self) -> None:
        """(Re)write `pids.json`: the harness's pid, every live child's and toxiproxy-server's,
        `state_fields()` and `leftovers()`; called whenever one of them changes."""
        if self.spec is None or self._stopped:
            return
        record = {"backend": self.name, "harness_pid": os.getpid(), "pids": self.pids(),
                  **self.state_fields(), **self.leftovers()}
        path = self.path("pids.json")
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
        tmp.replace(path)

    def drop_state(self) -> None:
        """Remove `pids.json` once nothing is left to undo (else rewrite it)."""
        if self.spec is None or self._stopped:
            return
        if self.leftovers() or self.pids():
            self.write_state()
            return
        for name in ("pids.json", "pids.json.tmp"):
            self.path(name).unlink(missing_ok=True)
        self._stopped = True

    # topology ---------------------------------------------------------------------------------
    def nodes(self) -> list[NodeInfo]:
        return list(self._nodes.values())

    @property
    def wan(self) -> Wan:
        if self._wan is None:
            raise SetupError("the cluster has not been started")
        return self._wan

    @property
    def toxiproxy_api(self) -> tuple[str, int]:
        if self._toxiproxy is None:
            raise SetupError("the cluster has not been started")
        return self._toxiproxy.api

    def pids(self) -> dict[str, int]:
        result = {name: c.pid for name, c in self._children.items() if c.is_running()}
        if self._toxiproxy is not None and self._toxiproxy.child is not None \
                and self._toxiproxy.child.is_running():
            result["toxiproxy-server"] = self._toxiproxy.child.pid
        return result

    # process faults ---------------------------------------------------------------------------
    def _child(self, node: NodeRef) -> ChildProcess:
        name = self.node(node).name
        try:
            return self._children[name]
        except KeyError:
            raise SetupError(f"{name} was never started") from None

    def pid(self, node: NodeRef) -> int:
        """The current pid of a node's process."""
        return self._child(node).pid

    def kill(self, node: NodeRef) -> None:
        child = self._child(node)
        if child.is_running():
            os.kill(child.pid, signal.SIGKILL)
            child.popen.wait(timeout=10)
        self.write_state()

    def pause(self, node: NodeRef) -> None:
        os.kill(self._child(node).pid, signal.SIGSTOP)

    def resume(self, node: NodeRef) -> None:
        os.kill(self._child(node).pid, signal.SIGCONT)

    def is_running(self, node: NodeRef) -> bool:
        return self._child(node).is_running()
