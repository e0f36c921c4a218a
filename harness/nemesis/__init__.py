"""Nemeses: the faults the harness injects (Jepsen's nemesis protocol, DESIGN §2 "Nemesis").

Public surface: the `Nemesis` protocol and its `NemesisContext`, schedules of nemesis ops, the
registry (`get_nemesis`, `available_nemeses`, entry point group `imfault.nemeses`), `compose`,
`validate`, and the pure partition shapes. See docs/adding-a-nemesis.md to write your own.
"""

from __future__ import annotations

from ._base import (
    NEMESIS_PROCESS,
    Nemesis,
    NemesisContext,
    NoopNemesis,
    Schedule,
    ScheduledOp,
    alternating_schedule,
    completion,
    op_field,
)
from ._clock import ClockAheadNemesis, ClockSkewNemesis
from ._compose import ComposedNemesis, ValidatingNemesis, compose, validate
from ._process import DcOutageNemesis, KillNemesis, PauseNemesis
from ._registry import (
    BUILTIN_NEMESES,
    ENTRY_POINT_GROUP,
    available_nemeses,
    get_nemesis,
    parse_nemesis_names,
)
from ._shapes import SHAPES, Grudge, grudge_from_hears_graph, hears_graph_from_grudge
from ._wan import PartitionNemesis, WanDegradeNemesis

__all__ = [
    "BUILTIN_NEMESES",
    "ENTRY_POINT_GROUP",
    "NEMESIS_PROCESS",
    "SHAPES",
    "ClockAheadNemesis",
    "ClockSkewNemesis",
    "ComposedNemesis",
    "DcOutageNemesis",
    "Grudge",
    "KillNemesis",
    "Nemesis",
    "NemesisContext",
    "NoopNemesis",
    "PartitionNemesis",
    "PauseNemesis",
    "Schedule",
    "ScheduledOp",
    "ValidatingNemesis",
    "WanDegradeNemesis",
    "alternating_schedule",
    "available_nemeses",
    "completion",
    "compose",
    "get_nemesis",
    "grudge_from_hears_graph",
    "hears_graph_from_grudge",
    "op_field",
    "parse_nemesis_names",
    "validate",
]
