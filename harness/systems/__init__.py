"""Systems under test (DESIGN §2 "Systems under test"): the registry and the protocols.

`get_system(name)` makes one: the built-ins (`imcluster`, the default; `mosquitto`; `nats`) and those other
packages register under the entry point group `imfault.systems` (an entry point loads a `System`
subclass or a zero-argument factory; built-ins win over an entry point of the same name).
`available_systems()` is what `imfault systems` lists. Each system is one module that imports the
harness's protocols (`_base`) and nothing of another system.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
from collections.abc import Callable

from ..errors import UsageError
from ._base import ClientFactory, FinalState, Guarantees, Link, System, SystemClient

__all__ = ["BUILTIN_SYSTEMS", "DEFAULT_SYSTEM", "ENTRY_POINT_GROUP", "ClientFactory",
           "FinalState", "Guarantees", "Link", "System", "SystemClient", "available_systems",
           "get_system", "system_names"]

ENTRY_POINT_GROUP = "imfault.systems"
DEFAULT_SYSTEM = "imcluster"

BUILTIN_SYSTEMS: dict[str, str] = {
    "imcluster": "harness.systems.imcluster:ImclusterSystem",
    "mosquitto": "harness.systems.mosquitto:MosquittoSystem",
    "nats": "harness.systems.nats:NatsSystem",
}
"""Built-in name -> "module:attribute" (imported only when that system is used or listed)."""


def _load_ref(ref: str) -> Callable[[], System]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]


def _factories() -> dict[str, Callable[[], Callable[[], System]]]:
    """name -> a loader of its factory (built-ins first, then entry points)."""
    loaders: dict[str, Callable[[], Callable[[], System]]] = {
        name: functools.partial(_load_ref, ref) for name, ref in BUILTIN_SYSTEMS.items()}
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry_point.name not in loaders:
            loaders[entry_point.name] = entry_point.load
    return loaders


def system_names() -> list[str]:
    """Every known system name (built-ins first)."""
    return list(_factories())


def get_system(name: str = DEFAULT_SYSTEM) -> System:
    """A new `System` called `name`; `UsageError` naming the known ones otherwise."""
    loaders = _factories()
    if name not in loaders:
        raise UsageError(f"unknown --system {name!r}; known systems: {', '.join(loaders)} "
                         "(see `imfault systems`)")
    try:
        factory = loaders[name]()
        system = factory()
    except UsageError:
        raise
    except Exception as exc:
        raise UsageError(f"system {name!r} could not be loaded: {type(exc).__name__}: "
                         f"{exc}") from exc
    if not isinstance(system, System):
        raise UsageError(f"system {name!r} is a {type(system).__name__}, not a "
                         "harness.systems.System")
    return system


def available_systems() -> dict[str, dict[str, object]]:
    """{name: {help, backends, guarantees}} of every system that loads (or its load error)."""
    result: dict[str, dict[str, object]] = {}
    for name in system_names():
        try:
            system = get_system(name)
        except UsageError as exc:
            result[name] = {"help": f"(cannot load: {exc})", "backends": [], "guarantees": {}}
            continue
        result[name] = {"help": system.help, "backends": list(system.backends),
                        "guarantees": system.guarantees.to_json()}
    return result
