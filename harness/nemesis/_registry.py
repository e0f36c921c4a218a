"""The nemesis registry: the built-in catalogue plus entry points of group `imfault.nemeses`.

An entry point loads a `Nemesis` subclass or a factory (any callable returning a `Nemesis`);
its name is the entry point's name. `get_nemesis("a,b", ...)` composes several. Built-ins win
over an entry point of the same name (a broken or clashing plugin cannot replace them).
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import UsageError
from ._base import Nemesis, NoopNemesis
from ._clock import ClockAheadNemesis, ClockSkewNemesis
from ._compose import compose
from ._node_partition import NodePartitionNemesis
from ._process import DcOutageNemesis, KillNemesis, PauseNemesis
from ._wan import WanDegradeNemesis, partition_nemesis_class

__all__ = [
    "BUILTIN_NEMESES",
    "ENTRY_POINT_GROUP",
    "available_nemeses",
    "get_nemesis",
    "nemesis_factories",
    "parse_nemesis_names",
]

ENTRY_POINT_GROUP = "imfault.nemeses"

NemesisFactory = Callable[[], Nemesis]

BUILTIN_NEMESES: dict[str, NemesisFactory] = {
    "noop": NoopNemesis,
    "partition-one": partition_nemesis_class(
        "partition-one", "isolate one random DC from all the others (WAN blackhole)"),
    "partition-halves": partition_nemesis_class(
        "partition-halves", "cut the DCs into two random halves that cannot hear each other"),
    "partition-ring": partition_nemesis_class(
        "partition-ring", "majorities ring: each DC hears only its ring neighbours (>= 4 DCs)"),
    "partition-bridge": partition_nemesis_class(
        "partition-bridge", "two halves cut apart except one bridge DC that hears both (>= 3 DCs)"),
    "partition-oneway": partition_nemesis_class(
        "partition-oneway", "asymmetric cut: a random set of DCs cannot hear from another set"),
    "wan-degrade": WanDegradeNemesis,
    "kill": KillNemesis,
    "pause": PauseNemesis,
    "dc-outage": DcOutageNemesis,
    "clock-skew": ClockSkewNemesis,
    "clock-ahead": ClockAheadNemesis,
    "partition-node": NodePartitionNemesis,
}


def _entry_points() -> Iterable[importlib.metadata.EntryPoint]:
    return importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)


def nemesis_factories() -> dict[str, NemesisFactory]:
    """Every known nemesis name -> a zero-argument factory (built-ins, then entry points)."""
    factories: dict[str, NemesisFactory] = dict(BUILTIN_NEMESES)
    for entry_point in _entry_points():
        if entry_point.name not in factories:
            factories[entry_point.name] = _lazy_factory(entry_point)
    return factories


def _lazy_factory(entry_point: importlib.metadata.EntryPoint) -> NemesisFactory:
    def factory() -> Nemesis:
        return _instantiate(entry_point.name, _load(entry_point))

    factory.__doc__ = f"entry point {entry_point.value}"
    return factory


def _load(entry_point: importlib.metadata.EntryPoint) -> Any:
    try:
        return entry_point.load()
    except Exception as exc:
        raise UsageError(f"nemesis {entry_point.name!r} (entry point {entry_point.value}) "
                         f"failed to load: {type(exc).__name__}: {exc}") from exc


def _instantiate(name: str, loaded: Any) -> Nemesis:
    if not callable(loaded):
        raise UsageError(f"entry point {name!r} of group {ENTRY_POINT_GROUP} is not a Nemesis "
                         "subclass or factory")
    try:
        nemesis = loaded()
    except Exception as exc:
        raise UsageError(f"nemesis {name!r} (entry point of group {ENTRY_POINT_GROUP}) failed "
                         f"to build: {type(exc).__name__}: {exc}") from exc
    if not isinstance(nemesis, Nemesis):
        raise UsageError(f"entry point {name!r} returned {type(nemesis).__name__}, not a Nemesis")
    if not nemesis.name:
        nemesis.name = name  # type: ignore[misc]
    return nemesis


def _help_of(name: str, factory: NemesisFactory) -> str:
    if factory in BUILTIN_NEMESES.values():
        return str(getattr(factory, "help", ""))
    for entry_point in _entry_points():
        if entry_point.name == name:
            try:
                loaded = entry_point.load()
            except Exception as exc:  # noqa: BLE001 - list it anyway, with the reason
                return f"(failed to load: {type(exc).__name__}: {exc})"
            text = getattr(loaded, "help", "") or (loaded.__doc__ or "").strip()
            return str(text).splitlines()[0] if text else ""
    return ""


def available_nemeses() -> dict[str, str]:
    """Every nemesis name -> its one-line help, built-ins first, in catalogue order."""
    return {name: _help_of(name, factory) for name, factory in nemesis_factories().items()}


def parse_nemesis_names(names: str | Iterable[str] | None) -> list[str]:
    """`"a,b"` or `["a", "b,c"]` -> `["a", "b", "c"]` (blanks dropped, order kept, no repeats)."""
    if names is None:
        return []
    parts = [names] if isinstance(names, str) else list(names)
    result: list[str] = []
    for part in parts:
        for name in str(part).split(","):
            name = name.strip()
            if name and name not in result:
                result.append(name)
    return result


def get_nemesis(names: str | Iterable[str] | None) -> Nemesis:
    """The nemesis for `--nemesis NAME[,NAME...]` (composed when several; `noop` when none).

    Raises `UsageError` listing the known names when a name is unknown.
    """
    wanted = parse_nemesis_names(names)
    if not wanted:
        return NoopNemesis()
    factories = nemesis_factories()
    unknown = [name for name in wanted if name not in factories]
    if unknown:
        raise UsageError(f"unknown nemesis {', '.join(repr(n) for n in unknown)}; "
                         f"known: {', '.join(factories)}")
    nemeses = [factories[name]() for name in wanted if name != "noop" or len(wanted) == 1]
    return compose(nemeses)
