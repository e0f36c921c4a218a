"""`imfault cluster up`: run a cluster by hand on the local backend until Ctrl-C / SIGTERM.

Prints exactly one JSON line on stdout once every node is healthy:
`{"secret": ..., "access": {"dc1": ["127.0.0.1:PORT", ...], ...}, "toxiproxy": "127.0.0.1:PORT"}`
(plus nothing else on stdout; progress and errors go to stderr), then waits. On SIGINT or SIGTERM
every process it started is stopped by pid and the command exits 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from ._signals import teardown_shield, terminate_as_interrupt
from .backends import BUG_NAMES, DELIVERY_MODES, GOSSIP_MODES, ClusterSpec
from .errors import UsageError

__all__ = ["add_parser", "handle", "spec_from_args"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "cluster", help="run a reference IM cluster by hand (cluster up)",
        description="Run hubs and access nodes as local processes with toxiproxy-server "
                    "between every ordered pair of DCs.")
    actions = parser.add_subparsers(dest="cluster_action", metavar="ACTION")
    up = actions.add_parser("up", help="start a cluster, print its addresses as JSON, run until "
                                       "Ctrl-C")
    up.add_argument("--dcs", type=int, default=5, help="number of datacenters (default 5)")
    up.add_argument("--access-per-dc", type=int, default=1, help="access nodes per DC")
    up.add_argument("--wan-latency", type=float, default=200.0, metavar="MS",
                    help="one-way WAN latency in ms (default 200)")
    up.add_argument("--wan-jitter", type=float, default=0.0, metavar="MS", help="WAN jitter, ms")
    up.add_argument("--gossip", choices=GOSSIP_MODES, default=GOSSIP_MODES[0])
    up.add_argument("--gossip-interval", type=float, default=100.0, metavar="MS")
    up.add_argument("--delivery", choices=DELIVERY_MODES, default=DELIVERY_MODES[0])
    up.add_argument("--bug", action="append", default=[], choices=BUG_NAMES, metavar="NAME",
                    help=f"seed a bug (repeatable): {', '.join(BUG_NAMES)}")
    up.add_argument("--seed", type=int, default=0)
    up.add_argument("--work-dir", type=Path, default=None, metavar="DIR",
                    help="where node logs, databases and event logs go (default: a temp dir)")
    return parser


def spec_from_args(args: argparse.Namespace) -> ClusterSpec:
    """The `ClusterSpec` that `cluster up`'s options describe."""
    extra: dict[str, Any] = {}
    if args.work_dir is not None:
        extra["work_dir"] = args.work_dir
    return ClusterSpec(
        dcs=args.dcs, access_per_dc=args.access_per_dc, wan_latency_ms=args.wan_latency,
        wan_jitter_ms=args.wan_jitter, gossip=args.gossip,
        gossip_interval_ms=args.gossip_interval, delivery=args.delivery,
        bugs=tuple(args.bug), seed=args.seed, **extra,
    )


def handle(args: argparse.Namespace) -> int:
    if args.cluster_action != "up":
        raise UsageError("say `imfault cluster up [options]`")
    spec = spec_from_args(args)
    from .backends.local import LocalBackend

    backend = LocalBackend()
    with terminate_as_interrupt():
        return _run_until_stopped(backend, spec)


def _run_until_stopped(backend: Any, spec: ClusterSpec) -> int:
    try:
        print(f"imfault: starting {spec.dcs} DCs in {spec.work_dir}", file=sys.stderr)
        backend.start(spec)
        host, port = backend.toxiproxy_api
        line = {
            "secret": spec.secret,
            "access": {dc: [f"{h}:{p}" for h, p in addrs]
                       for dc, addrs in backend.access_addresses().items()},
            "toxiproxy": f"{host}:{port}",
        }
        print(json.dumps(line), flush=True)
        print("imfault: cluster up; Ctrl-C to stop", file=sys.stderr, flush=True)
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        print("imfault: stopping the cluster", file=sys.stderr)
        return 0
    finally:
        with teardown_shield():  # a second Ctrl-C or a SIGTERM must not interrupt the teardown
            backend.stop()
