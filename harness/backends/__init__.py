"""Backends run a cluster for the harness; `get_backend(name)` makes one (DESIGN §2).

`local` (default): nodes as subprocesses on loopback, the real `toxiproxy-server` between DCs.
`docker`: one container per node, one network per DC, Toxiproxy as a container.
`swarm`: the docker backend on a Docker Swarm: a service per node, an overlay network per DC.
`sim`: every node in one process under a seeded virtual clock (`harness.sim`).
"""

from __future__ import annotations

from .._options import BACKENDS
from ..errors import SetupError, UsageError
from ._base import (
    BUG_NAMES,
    DELIVERY_MODES,
    GOSSIP_MODES,
    Backend,
    ClusterSpec,
    NodeInfo,
    NodeRef,
    run_coroutine_sync,
)

__all__ = [
    "BACKEND_NAMES",
    "BUG_NAMES",
    "DELIVERY_MODES",
    "GOSSIP_MODES",
    "Backend",
    "ClusterSpec",
    "NodeInfo",
    "NodeRef",
    "get_backend",
    "run_coroutine_sync",
]

BACKEND_NAMES = BACKENDS  # defined once, in the option schema


def get_backend(name: str = "local") -> Backend:
    """A new, not yet started backend called `name`; `UsageError` for unknown/unavailable ones."""
    if name == "local":
        from .local import LocalBackend

        return LocalBackend()
    if name in ("docker", "swarm"):
        try:
            from .docker import DockerBackend  # type: ignore[import-not-found,unused-ignore]
            from .swarm import SwarmBackend
        except ModuleNotFoundError as exc:
            if exc.name == "docker":
                raise SetupError("the docker backend needs docker-py: run scripts/bootstrap "
                                 "or pip install 'docker>=7'") from exc
            raise UsageError(f"the {name} backend is not available; use --backend local") \
                from exc
        backend: Backend = DockerBackend() if name == "docker" else SwarmBackend()
        return backend
    if name == "sim":
        from ..sim import SimBackend

        return SimBackend()
    raise UsageError(f"unknown backend {name!r}; use one of {', '.join(BACKEND_NAMES)}")
