"""Talking to the Docker engine: a docker-py client, labels, and removal of labelled resources.

Every container and network of a docker-backend cluster carries the label `imfault.run=<run id>`;
`remove_labelled` removes them (one run, or every run for `imfault clean`).
"""

from __future__ import annotations

import os
from typing import Any

from .._procs import pid_alive
from ..errors import SetupError

__all__ = [
    "ENABLE_HINT",
    "HARNESS_PID_LABEL",
    "RUN_LABEL",
    "docker_client",
    "engine_available",
    "remove_labelled",
]

RUN_LABEL = "imfault.run"
HARNESS_PID_LABEL = "imfault.harness_pid"
ENABLE_HINT = ("start a Docker engine with `scripts/docker-engine` (installs Debian's docker.io and "
               "starts dockerd when missing)")


def docker_client(timeout: float = 60.0) -> Any:
    """A docker-py client whose engine answers `ping`; `SetupError` saying how to start one."""
    try:
        import docker  # type: ignore[import-untyped]
    except ImportError as exc:
        raise SetupError("the docker backend needs the `docker` Python package "
                         "(`pip install docker`, part of imfault's dependencies)") from exc
    try:
        client = docker.from_env(timeout=int(timeout))  # type: ignore[attr-defined]
        client.ping()
    except Exception as exc:
        raise SetupError(f"no Docker engine answers ({exc}); {ENABLE_HINT}") from exc
    return client


def engine_available() -> bool:
    """True when a Docker engine answers."""
    try:
        docker_client(timeout=10).close()
    except SetupError:
        return False
    return True


def _harness_alive(labels: dict[str, str]) -> bool:
    """True when the harness process that labelled a resource still runs (and is not us)."""
    try:
        pid = int(labels.get(HARNESS_PID_LABEL, ""))
    except ValueError:
        return False
    return pid != os.getpid() and pid_alive(pid)


def remove_labelled(client: Any, run_id: str | None = None,
                    include_live: bool = True) -> dict[str, int]:
    """Remove every container, then every network, labelled `imfault.run` (= `run_id` when
    given); without `include_live`, spare those whose harness process still runs. Every one is
    tried even when another fails; the failures are then raised as one `SetupError`.
    Returns {"containers": n, "networks": m} removed."""
    label = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
    removed = {"containers": 0, "networks": 0}
    errors: list[str] = []
    containers = client.containers.list(all=True, filters={"label": label}, ignore_removed=True)
    for container in containers:
        if include_live or not _harness_alive(container.labels):
            _remove(container, "containers", removed, errors, force=True, v=True)
    for network in client.networks.list(filters={"label": label}):
        if include_live or not _harness_alive(network.attrs.get("Labels") or {}):
            _remove(network, "networks", removed, errors)
    if errors:
        raise SetupError("could not remove " + "; ".join(errors))
    return removed


def _remove(resource: Any, kind: str, removed: dict[str, int], errors: list[str],
            **options: Any) -> None:
    """Remove one container or network; count it, or note why it could not be removed."""
    from docker.errors import NotFound  # type: ignore[import-untyped]

    try:
        resource.remove(**options)
        removed[kind] += 1
    except NotFound:
        pass
    except Exception as exc:  # noqa: BLE001 - remove the others, then report
        errors.append(f"{kind[:-1]} {resource.name}: {type(exc).__name__}: {exc}")
