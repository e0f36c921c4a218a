"""`mosquitto`: Eclipse Mosquitto brokers, one per DC, bridged through the WAN (`--system mosquitto`).

Design (docs/systems/mosquitto.md):
* one broker per DC (Debian's `mosquitto` 2.0); the bridge `src-to-dst`, configured on src's
  broker, dials the Toxiproxy proxy `src->dst` and forwards `local/inbox/#` (what src's clients
  publish) as `remote/inbox/#` at dst, QoS 1, `cleansession false` (what a cut bridge could not
  forward waits in its queue). `remote/...` is never forwarded again: no loops, one copy per DC.
* every DC keeps a persistent session (client id = the user, `clean_session=False`, subscribed
  to `+/inbox/<user>` at QoS 1) for every user, created before the main phase (`prepare`). Wherever
  a roaming user logs in, that DC's broker has queued what was sent to them since their last
  session there ended; a message already received in another DC is received again there (a
  duplicate, which at-least-once allows).

Guarantees: a PUBACK is not durable (mosquitto saves its persistence file every
`autosave_interval` = 1800 s and at a clean shutdown; a SIGKILL loses what came since), duplicates
are allowed (QoS 1), MQTT 3.1.1 §4.6 orders each topic per publisher (`per-pair` here: a sender's
messages to one recipient share a topic); no replicated state, no event logs.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from ...backends._base import Backend
from ...errors import UsageError
from ...seams import Backend as RunningBackend
from .._base import ClientFactory, DeliverCallback, FinalState, Guarantees, Link, System
from ._local import DIRECT_LINKS_ENV, MosquittoLocalBackend, find_mosquitto

__all__ = ["DIRECT_LINKS_ENV", "MosquittoLocalBackend", "MosquittoSystem"]


def _make_client(nodes: dict[tuple[str, int], tuple[str, str]], host: str, port: int,
                 secret: str, user: str, on_deliver: DeliverCallback) -> Any:
    from ._client import MqttUserClient

    dc, node = nodes[(host, port)]
    return MqttUserClient(host, port, user, dc, node, on_deliver)


class MosquittoSystem(System):
    """Bridged Mosquitto brokers (see the module docstring)."""

    name = "mosquitto"
    help = "Eclipse Mosquitto brokers, one per DC, a bridge per ordered DC pair (QoS 1)"
    guarantees = Guarantees(durable_ack=False, duplicates=True, order="per-pair",
                            replicated_state=False, event_logs=False)
    backends = ("local", "docker")

    def check_installed(self, backend: str) -> None:
        if backend == "local":  # the docker backend's image installs Debian's package
            find_mosquitto()

    def check_options(self, options: Any) -> None:
        if getattr(options, "access_per_dc", 1) != 1:
            raise UsageError("--system mosquitto runs one broker per DC: --access-per-dc must "
                             "be 1")
        if getattr(options, "bug", None):
            raise UsageError("--bug seeds defects into imcluster; it does not apply to "
                             "--system mosquitto")

    def make_backend(self, backend: str) -> Backend:
        self.check_backend(backend)
        if backend == "docker":
            from ._docker import MosquittoDockerBackend

            return MosquittoDockerBackend()
        return MosquittoLocalBackend()

    def links(self, backend: RunningBackend) -> list[Link]:
        return [Link(src, dst, backend.hub(dst).address) for src, dst in backend.wan.links()]

    def client_factory(self, backend: RunningBackend) -> ClientFactory:
        nodes = {(n.host, n.port): (n.dc, n.name) for n in backend.nodes()}
        return functools.partial(_make_client, nodes)

    def verify_links(self, backend: RunningBackend) -> list[str]:
        """No broker holds a connection to another DC's broker port: each bridge goes to its
        proxy (local: `_links.local_bypasses` over the brokers' live sockets; docker:
        `_containers.ContainerBackend.bypasses`)."""
        return list(backend.bypasses())  # type: ignore[attr-defined]

    async def final_state(self, backend: RunningBackend, dc_names: list[str]) -> FinalState:
        """No replicated state to read; `converged` once every bridge is up again (what a cut
        bridge queued can flow), so that recovery waits for the bridges' reconnection."""
        down = await asyncio.get_running_loop().run_in_executor(
            None, backend.bridges_down)  # type: ignore[attr-defined]
        return FinalState(converged=not down, final=None)

    async def prepare(self, backend: RunningBackend, users: list[str]) -> None:
        """Every user's persistent session on every broker (one thread per broker)."""
        from ._client import create_sessions

        loop = asyncio.get_running_loop()
        await asyncio.gather(*(loop.run_in_executor(None, create_sessions, n.host, n.port, users)
                               for n in backend.nodes()))
