"""Command line of the reference IM cluster's node processes.

    python -m imcluster hub --dc dc1 --listen HOST:PORT --peer dc2=HOST:PORT ... --db PATH
        --event-log PATH [--gossip MODE] [--gossip-interval MS] [--gossip-fanout K] [--delivery MODE] [--bug NAME]...
        [--seed N]
    python -m imcluster access --dc dc1 --node dc1-a1 --listen HOST:PORT --hub HOST:PORT [--seed N]
        [--max-connections N] [--login-timeout S] [--idle-timeout S]

The cluster secret comes from the environment variable `IMCLUSTER_SECRET` (never argv). Once the
node serves it prints one JSON line `{"ready": true, "node": ..., "listen": "host:port"}` on
stdout; logs go to stderr. SIGTERM and SIGINT stop it cleanly (exit 0).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence

from ._net import parse_hostport

SECRET_ENV = "IMCLUSTER_SECRET"


def _hostport(text: str) -> tuple[str, int]:
    try:
        return parse_hostport(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _peer(text: str) -> tuple[str, tuple[str, int]]:
    dc, sep, addr = text.partition("=")
    if not sep or not dc:
        raise argparse.ArgumentTypeError(f"expected DC=HOST:PORT, got {text!r}")
    return dc, _hostport(addr)


def build_parser() -> argparse.ArgumentParser:
    from ._config import BUGS, DELIVERY_MODES, GOSSIP_MODES, AccessConfig

    limits = AccessConfig(dc="-", node="-", secret=b"")

    parser = argparse.ArgumentParser(prog="python -m imcluster",
                                     description="Run one node of the reference IM cluster. "
                                     f"The cluster secret is read from ${SECRET_ENV}.")
    parser.add_argument("--log-level", default="INFO", help="stderr log level (default INFO)")
    roles = parser.add_subparsers(dest="role", required=True)

    hub = roles.add_parser("hub", help="a DC's hub: store, message gateway, gossip agent")
    hub.add_argument("--dc", required=True, help="this DC's name, e.g. dc1")
    hub.add_argument("--node", help="node name (default DC-hub)")
    hub.add_argument("--listen", required=True, type=_hostport, help="HOST:PORT to serve on")
    hub.add_argument("--peer", action="append", default=[], type=_peer, metavar="DC=HOST:PORT",
                     help="address of a peer DC's hub (through the WAN proxy); repeatable")
    hub.add_argument("--db", required=True, help="SQLite store path")
    hub.add_argument("--event-log", help="JSONL event log path")
    hub.add_argument("--gossip", default="push+anti-entropy", choices=sorted(GOSSIP_MODES))
    hub.add_argument("--gossip-interval", type=float, default=100.0, metavar="MS")
    hub.add_argument("--gossip-fanout", type=int, default=1, metavar="K",
                     help="rumor modes: peers called per round (default 1)")
    hub.add_argument("--delivery", default="durable", choices=sorted(DELIVERY_MODES))
    hub.add_argument("--bug", action="append", default=[], choices=sorted(BUGS),
                     help="switch on a seeded bug; repeatable")
    hub.add_argument("--seed", type=int, default=0)
    hub.add_argument("--peer-timeout", type=float, default=1.5, metavar="S",
                     help="close a peer link whose request is unanswered this long (default 1.5)")

    access = roles.add_parser("access", help="an access node: client connections")
    access.add_argument("--dc", required=True)
    access.add_argument("--node", required=True, help="node name, e.g. dc1-a1")
    access.add_argument("--listen", required=True, type=_hostport)
    access.add_argument("--hub", required=True, type=_hostport, help="HOST:PORT of the DC's hub")
    access.add_argument("--seed", type=int, default=0)
    access.add_argument("--max-connections", type=int, default=limits.max_connections,
                        metavar="N", help="refuse clients past this many connections "
                        f"(too_many_connections; default {limits.max_connections})")
    access.add_argument("--login-timeout", type=float, default=limits.login_timeout_ms / 1000,
                        metavar="S", help="close a connection not logged in this long "
                        f"(login_timeout; default {limits.login_timeout_ms / 1000:g})")
    access.add_argument("--idle-timeout", type=float, default=limits.idle_timeout_ms / 1000,
                        metavar="S", help="close a logged-in client that sent nothing this long "
                        f"(idle_timeout; 0: never; default {limits.idle_timeout_ms / 1000:g})")
    return parser


async def _serve(args: argparse.Namespace, secret: bytes) -> None:
    from ._accessnode import AccessNode
    from ._config import AccessConfig, HubConfig
    from ._hubnode import HubNode

    node: HubNode | AccessNode
    if args.role == "hub":
        peers = dict(args.peer)
        config = HubConfig(dc=args.dc, peers=tuple(sorted(peers)),
                           node=args.node or f"{args.dc}-hub", gossip=args.gossip,
                           gossip_interval_ms=args.gossip_interval,
                           gossip_fanout=args.gossip_fanout, delivery=args.delivery,
                           bugs=frozenset(args.bug))
        node = HubNode(config, listen=args.listen, peers=peers, db=args.db, secret=secret,
                       event_log=args.event_log, seed=args.seed, peer_timeout=args.peer_timeout)
        name = config.node
    else:
        limits = AccessConfig(dc=args.dc, node=args.node, secret=secret,
                              max_connections=args.max_connections,
                              login_timeout_ms=args.login_timeout * 1000,
                              idle_timeout_ms=args.idle_timeout * 1000)
        node = AccessNode(limits, listen=args.listen, hub=args.hub, seed=args.seed)
        name = args.node
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    host, port = await node.start()
    print(json.dumps({"ready": True, "node": name, "listen": f"{host}:{port}"}), flush=True)
    await stop.wait()
    logging.getLogger("imcluster").info("%s: stopping", name)
    await node.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        print(f"error: the cluster secret is missing: set the environment variable {SECRET_ENV}",
              file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(args, secret.encode()))
    except ValueError as exc:  # e.g. a configuration the core refuses
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
