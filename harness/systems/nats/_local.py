"""nats-server as local processes: one site (a one-server cluster) per DC, gateways through
Toxiproxy, JetStream on every server, and DC isolation enforced with owner-matched iptables rules.

NATS gateways gossip their URLs: a server that learnt a peer site's real gateway address from the
INFO of an inbound gateway may dial it directly on its next (re)connect, around the proxy. On
loopback nothing stops that but the firewall: each DC's server runs under its own uid (`setpriv`,
uids `ISOLATION_UID_BASE + i`, no account needed) and an `OUTPUT` rule per ordered DC pair rejects
TCP from DC a's uid to DC b's ports (Toxiproxy, running as the harness's user, still reaches
them). That needs root; without it `--system nats` is refused, unless
`IMFAULT_UNSAFE_NO_ISOLATION=1` asks to run without isolation (the bypass check must then catch
any direct connection). Rules are removed by their exact specification at teardown.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from ..._procs import free_port
from ...backends._base import ClusterSpec, NodeInfo
from ...errors import SetupError
from .._procbackend import HOST, NodePlan, ProcessBackend

__all__ = ["ISOLATION_UID_BASE", "NO_ISOLATION_ENV", "SHARED_PREFIX", "NatsLocalBackend",
           "delete_rule", "find_nats_server", "server_config"]

NATS_VERSION = "v2.14.9"
NO_ISOLATION_ENV = "IMFAULT_UNSAFE_NO_ISOLATION"
SHARED_PREFIX = "imfault-nats-"
"""Prefix of the temp dir an isolated run shares with its servers' uids (`imfault clean` removes
only recorded dirs under the temp dir with this prefix)."""
ISOLATION_UID_BASE = 64_100
PING_INTERVAL = "1s"
PING_MAX = 3
"""Server pings (defaults 2 min and 2): a blackholed gateway is dropped after ~3-4 s."""


def find_nats_server() -> str:
    """Path of `nats-server` (PATH, then `~/.cache/imfault/bin`); `SetupError` saying how."""
    on_path = shutil.which("nats-server")
    if on_path:
        return on_path
    tools = os.environ.get("IMFAULT_TOOLS") or os.path.expanduser("~/.cache/imfault")
    cached = os.path.join(tools, "bin", "nats-server")
    if os.access(cached, os.X_OK):
        return cached
    raise SetupError(f"--system nats needs nats-server: run scripts/bootstrap, or go install "
                     f"github.com/nats-io/nats-server/v2@{NATS_VERSION} and put the binary on "
                     "PATH")


def isolation_problem() -> str | None:
    """Why DC isolation cannot be enforced here (None: it can)."""
    if os.environ.get(NO_ISOLATION_ENV) == "1":
        return None
    if os.geteuid() != 0:
        return ("--system nats on the local backend needs root to isolate the DCs (NATS "
                "gateways gossip their real addresses and would connect around the WAN): run as "
                "root, or use --backend docker")
    if shutil.which("iptables") is None or shutil.which("setpriv") is None:
        return ("--system nats on the local backend isolates DCs with iptables and setpriv: "
                "apt-get install iptables util-linux")
    return None


def server_config(dc: str, plan: NodePlan, store_dir: str, peers: dict[str, str],
                  host: str = HOST) -> str:
    """`nats-server.conf` of `dc` (every non-default setting; docs/systems/nats.md); `host`:
    the address it listens on (every one, `0.0.0.0`, in a container)."""
    route_port = plan.other_ports[0]
    route_host = HOST if host == "0.0.0.0" else host
    gateways = ",\n".join(f'    {{name: {peer}, urls: ["nats://{address}"]}}'
                          for peer, address in sorted(peers.items()))
    return f"""# imfault: server of {dc}
server_name: {dc}
listen: {host}:{plan.client_port}
ping_interval: "{PING_INTERVAL}"
ping_max: {PING_MAX}
jetstream {{ store_dir: "{store_dir}" }}
cluster {{ name: {dc}, listen: {host}:{route_port}, routes: ["nats://{route_host}:{route_port}"] }}
gateway {{
  name: {dc}
  listen: {host}:{plan.wan_port}
  gateways: [
{gateways}
  ]
}}
"""


class NatsLocalBackend(ProcessBackend):
    """One nats-server per DC (see the module docstring)."""

    node_suffix = "server"

    def __init__(self, ready_timeout: float = 20.0,
                 direct_links: set[tuple[str, str]] | None = None) -> None:
        super().__init__(ready_timeout, direct_links)
        self.isolated = os.environ.get(NO_ISOLATION_ENV) != "1"
        self._rules: list[list[str]] = []
        self._shared: Path | None = None

    def plan(self, dc: str) -> NodePlan:
        return NodePlan(free_port(HOST), free_port(HOST), (free_port(HOST),))

    def uid(self, dc: str) -> int:
        assert self.spec is not None
        return ISOLATION_UID_BASE + self.spec.dc_names.index(dc)

    def argv(self, info: NodeInfo, plan: NodePlan, peers: dict[str, str]) -> list[str]:
        if not self.isolated:
            store = self.path("data", info.name)
            conf = self.path("conf", f"{info.name}.conf")
            conf.write_text(server_config(info.dc, plan, str(store), peers))
            return [find_nats_server(), "-c", str(conf)]
        # the server's uid cannot enter the harness's private dirs: a shared one of its own
        uid = self.uid(info.dc)
        if self._shared is None:
            self._shared = Path(tempfile.mkdtemp(prefix=SHARED_PREFIX))
            self._shared.chmod(0o755)
            self.write_state()
            shutil.copy2(find_nats_server(), self._shared / "nats-server")
        store = self._shared / info.name
        store.mkdir(mode=0o700)
        os.chown(store, uid, uid)
        conf = self._shared / f"{info.name}.conf"
        conf.write_text(server_config(info.dc, plan, str(store / "js"), peers))
        shutil.copyfile(conf, self.path("conf", f"{info.name}.conf"))
        return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                str(self._shared / "nats-server"), "-c", str(conf)]

    def start(self, spec: ClusterSpec) -> None:
        problem = isolation_problem()
        if problem:
            raise SetupError(problem)
        super().start(spec)

    def _start(self, spec: ClusterSpec) -> None:
        if self.isolated:
            self._plans = {dc: self.plan(dc) for dc in spec.dc_names}
            self._isolate(spec)  # before any server starts
        super()._start(spec)

    def _isolate(self, spec: ClusterSpec) -> None:
        """Reject TCP from each DC's uid to every other DC's ports (loopback)."""
        for src in spec.dc_names:
            for dst in spec.dc_names:
                if src == dst:
                    continue
                ports = ",".join(str(p) for p in sorted(self._plans[dst].ports))
                rule = ["OUTPUT", "-o", "lo", "-p", "tcp", "-m", "owner", "--uid-owner",
                        str(self.uid(src)), "-m", "multiport", "--dports", ports,
                        "-j", "REJECT", "--reject-with", "tcp-reset"]
                self._rules.append(rule)  # recorded first: a kill in between leaves no rule
                self.write_state()
                _iptables("-A", rule)

    def leftovers(self) -> dict[str, list[Any]]:
        return {"iptables": [list(rule) for rule in self._rules],
                "dirs": [str(self._shared)] if self._shared is not None else []} \
            if self._rules or self._shared is not None else {}

    def stop(self) -> None:
        try:
            super().stop()
        finally:
            while self._rules:
                _iptables("-D", self._rules[-1], check=False)
                self._rules.pop()
            if self._shared is not None:
                shutil.rmtree(self._shared, ignore_errors=True)
                self._shared = None
            self.drop_state()

    def wait_linked(self) -> None:
        """Until every server reports a JetStream meta leader (the gateways are up)."""
        deadline = time.monotonic() + max(self.ready_timeout, 40.0)
        for info in self.nodes():
            log = self.path("logs", f"{info.name}.log")
            while True:
                text = log.read_text(errors="replace") if log.exists() else ""
                if "metadata leader" in text:
                    break
                if time.monotonic() > deadline:
                    raise SetupError(f"{info.name} found no JetStream meta leader (gateways "
                                     f"down?); log {log}")
                time.sleep(0.1)


def delete_rule(rule: list[str]) -> bool:
    """Delete one recorded isolation rule if it is still there (`imfault clean`); True if it
    was. Only rules of this backend's shape (loopback, an isolation uid) are touched."""
    try:
        uid = int(rule[rule.index("--uid-owner") + 1])
    except (ValueError, IndexError):
        return False
    if rule[:3] != ["OUTPUT", "-o", "lo"] \
            or not ISOLATION_UID_BASE <= uid < ISOLATION_UID_BASE + 1000:
        return False
    if subprocess.run(["iptables", "-w", "5", "-C", *rule], capture_output=True, timeout=15,
                      check=False).returncode != 0:
        return False
    _iptables("-D", rule)
    return True


def _iptables(action: str, rule: list[str], check: bool = True) -> None:
    done = subprocess.run(["iptables", "-w", "5", action, *rule], capture_output=True,
                          text=True, timeout=15, check=False)
    if check and done.returncode != 0:
        raise SetupError(f"iptables {action} {' '.join(rule)} failed: {done.stderr.strip()}")
