"""`nats`: a NATS super-cluster with JetStream, one site per DC joined by gateways through the WAN
(`--system nats`).

Design (docs/systems/nats.md): one nats-server per DC, its own one-server cluster named after the
DC; gateways to every other site dial the proxies; JetStream on every server (one meta group over
the super-cluster). Per DC an outbox stream `OUT_<dc>` and an aggregate `AGG_<dc>` sourcing every
outbox (`_client`); message id as `Nats-Msg-Id`; a user's receipts from its durable consumer on
the aggregate of the DC where it is logged in. Server pings every 1 s, 3 missed = dropped.

Guarantees: a PubAck means the outbox's server wrote the message (file store; the process's
crash does not lose written data, only a machine crash before the periodic fsync could):
`durable_ack` true; duplicates allowed (a consumer redelivers what was not acked, and a roaming
user's other DCs deliver again); order is not promised across DCs (sources interleave), so
`order` None; no replicated state or event logs in imfault's sense. `final_state` reports
converged when every aggregate holds as many messages as all outboxes together.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from ...backends._base import Backend
from ...errors import SetupError, UsageError
from ...seams import Backend as RunningBackend
from .._base import ClientFactory, DeliverCallback, FinalState, Guarantees, Link, System
from ._local import NO_ISOLATION_ENV, NatsLocalBackend, find_nats_server, isolation_problem

__all__ = ["NO_ISOLATION_ENV", "NatsLocalBackend", "NatsSystem"]

STATE_TIMEOUT_S = 5.0
"""Bound of one server's stream counts in `final_state` (recovery polls it until its deadline)."""


def _make_client(nodes: dict[tuple[str, int], tuple[str, str]], host: str, port: int,
                 secret: str, user: str, on_deliver: DeliverCallback) -> Any:
    from ._client import NatsUserClient

    dc, node = nodes[(host, port)]
    return NatsUserClient(host, port, user, dc, node, on_deliver)


class NatsSystem(System):
    """A NATS super-cluster with JetStream (see the module docstring)."""

    name = "nats"
    help = "NATS super-cluster, one site per DC joined by gateways, JetStream outbox/aggregate"
    guarantees = Guarantees(durable_ack=True, duplicates=True, order=None,
                            replicated_state=False, event_logs=False)
    backends = ("local", "docker")

    def check_installed(self, backend: str) -> None:
        find_nats_server()  # the docker backend's image copies it
        try:
            import nats  # noqa: F401
        except ImportError as exc:
            raise UsageError("--system nats needs nats-py: pip install 'nats-py>=2.9'") from exc
        problem = isolation_problem() if backend == "local" else None
        if problem:
            raise SetupError(problem)

    def check_options(self, options: Any) -> None:
        if getattr(options, "access_per_dc", 1) != 1:
            raise UsageError("--system nats runs one server per DC: --access-per-dc must be 1")
        if getattr(options, "bug", None):
            raise UsageError("--bug seeds defects into imcluster; not into --system nats")

    def make_backend(self, backend: str) -> Backend:
        self.check_backend(backend)
        if backend == "docker":
            from ._docker import NatsDockerBackend

            return NatsDockerBackend()
        return NatsLocalBackend()

    def links(self, backend: RunningBackend) -> list[Link]:
        return [Link(src, dst, backend.wan.link_address(src, dst))
                for src, dst in backend.wan.links()]

    def client_factory(self, backend: RunningBackend) -> ClientFactory:
        nodes = {(n.host, n.port): (n.dc, n.name) for n in backend.nodes()}
        return functools.partial(_make_client, nodes)

    def verify_links(self, backend: RunningBackend) -> list[str]:
        """No server holds a connection to another DC's ports (gateway, route or client): each
        gateway goes to its proxy (local: `_links.local_bypasses` over the live sockets; docker:
        `_containers.ContainerBackend.bypasses`)."""
        return list(backend.bypasses())  # type: ignore[attr-defined]

    async def prepare(self, backend: RunningBackend, users: list[str]) -> None:
        from ._client import create_streams

        try:
            await create_streams({n.dc: (n.host, n.port) for n in backend.nodes()}, users)
        except Exception as exc:  # a cluster that cannot take the streams
            raise SetupError(f"creating the JetStream streams and consumers failed: "
                             f"{type(exc).__name__}: {exc}; server logs in "
                             f"{backend.spec.work_dir if backend.spec else '?'}/logs") from exc

    async def final_state(self, backend: RunningBackend, dc_names: list[str]) -> FinalState:
        """Converged when each DC's aggregate holds every outbox's messages (each stream read
        from the server it is placed on) and no user pulling now has messages due (pending, or
        delivered but not acked: redelivered after AckWait); an unreachable server: not
        converged."""
        from ._client import own_state

        try:
            states = await asyncio.gather(*(
                asyncio.wait_for(own_state(n.host, n.port, n.dc), STATE_TIMEOUT_S)
                for n in backend.nodes()))
        except Exception:  # noqa: BLE001 - an unreachable server is "not converged"
            return FinalState(converged=False, final=None)
        sent = sum(out for out, _, _ in states)
        return FinalState(converged=all(agg == sent and due == 0 for _, agg, due in states),
                          final=None)
