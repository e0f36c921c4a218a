"""WAN nemeses on the backend's Toxiproxy `Wan`: partitions of five shapes and WAN degradation.

`partition-*` [`start-partition`/`stop-partition`]: the start op's value carries the grudge
(computed by `_shapes` from a seeded rng) and the style (`blackhole` by default: Toxiproxy
`timeout` toxic with timeout 0 on every cut direction; `refuse`: the proxy is disabled).
`wan-degrade` [`start-wan`/`stop-wan`]: one randomly chosen kind of degradation (latency spike
with jitter, bandwidth cap, slicer, reset_peer) on randomly chosen links; kind, links and
attributes are recorded in the value.
"""

from __future__ import annotations

import random
from typing import Any

from imcluster._config import PARTITION_STYLES

from ..errors import UsageError
from ._base import Nemesis, NemesisContext
from ._shapes import SHAPES

__all__ = ["PARTITION_STYLES", "PartitionNemesis", "WanDegradeNemesis", "partition_nemesis_class"]

_MIN_DCS = {"partition-ring": 4, "partition-bridge": 3}


def _require_wan(ctx: NemesisContext, name: str) -> Any:
    if ctx.wan is None:
        raise UsageError(f"nemesis {name!r} needs a backend with a Toxiproxy WAN")
    return ctx.wan


class PartitionNemesis(Nemesis):
    """Cuts the WAN along a grudge: `grudge[a]` lists the DCs `a` cannot hear from."""

    shape: str = "partition-one"
    fs = frozenset({"start-partition", "stop-partition"})
    start_f = "start-partition"
    stop_f = "stop-partition"

    def setup(self, ctx: NemesisContext) -> None:
        _require_wan(ctx, self.name)
        self.check_cluster(ctx)

    def check_cluster(self, ctx: NemesisContext) -> None:
        if ctx.partition_style not in PARTITION_STYLES:
            raise UsageError(
                f"--partition-style must be one of {', '.join(PARTITION_STYLES)}, "
                f"not {ctx.partition_style!r}"
            )
        needed = _MIN_DCS.get(self.shape, 2)
        if len(ctx.dc_names) < needed:
            raise UsageError(f"{self.name} needs at least {needed} DCs (--dcs), "
                             f"this run has {len(ctx.dc_names)}")

    def start_value(self, ctx: NemesisContext, rng: random.Random) -> dict[str, Any]:
        grudge = SHAPES[self.shape](ctx.dc_names, rng)
        return {"shape": self.shape, "style": ctx.partition_style, "grudge": grudge}

    def apply(self, ctx: NemesisContext, f: str, value: dict[str, Any]) -> dict[str, Any]:
        wan = _require_wan(ctx, self.name)
        if f == self.start_f:
            if "grudge" not in value:
                value.update(self.start_value(ctx, ctx.rng))
            value.setdefault("style", ctx.partition_style)
            wan.apply_grudge(value["grudge"], style=value["style"])
            return value
        wan.heal()
        value["grudge"] = {dc: [] for dc in ctx.dc_names}
        return value


def partition_nemesis_class(shape: str, help_text: str) -> type[PartitionNemesis]:
    """A `PartitionNemesis` subclass for one shape of `_shapes.SHAPES`."""
    class_name = "".join(part.capitalize() for part in shape.split("-")) + "Nemesis"
    return type(class_name, (PartitionNemesis,), {"name": shape, "shape": shape, "help": help_text})


DEGRADE_KINDS = ("latency", "bandwidth", "slicer", "reset_peer")


def degrade_attributes(kind: str, rng: random.Random) -> dict[str, Any]:
    """Toxiproxy attributes for one degradation of `kind` (latency/jitter in ms, rate in KB/s)."""
    if kind == "latency":
        latency = rng.choice([500, 1000, 2000])
        return {"latency": latency, "jitter": latency // 4}
    if kind == "bandwidth":
        return {"rate": rng.choice([1, 8, 64])}
    if kind == "slicer":
        return {"average_size": rng.choice([16, 64]), "size_variation": 8,
                "delay": rng.choice([1000, 10000])}
    if kind == "reset_peer":
        return {"timeout": rng.choice([0, 500, 2000])}
    raise ValueError(f"unknown degradation kind {kind!r}")


def choose_links(dcs: list[str], rng: random.Random) -> list[list[str]]:
    """Random ordered DC pairs: every link of one DC (both ways), or a random sample of links."""
    pairs = [[a, b] for a in dcs for b in dcs if a != b]
    if rng.random() < 0.5:
        dc = rng.choice(dcs)
        return [pair for pair in pairs if dc in pair]
    return sorted(rng.sample(pairs, rng.randint(1, len(pairs))))


class WanDegradeNemesis(Nemesis):
    """Degrades (does not cut) WAN links: latency spike, bandwidth cap, slicer or reset_peer."""

    name = "wan-degrade"
    help = "degrade WAN links: latency spike with jitter, bandwidth cap, slicer or reset_peer"
    fs = frozenset({"start-wan", "stop-wan"})
    start_f = "start-wan"
    stop_f = "stop-wan"

    def setup(self, ctx: NemesisContext) -> None:
        _require_wan(ctx, self.name)
        self.check_cluster(ctx)

    def check_cluster(self, ctx: NemesisContext) -> None:
        if len(ctx.dc_names) < 2:
            raise UsageError("wan-degrade needs at least 2 DCs (--dcs)")

    def start_value(self, ctx: NemesisContext, rng: random.Random) -> dict[str, Any]:
        kind = rng.choice(DEGRADE_KINDS)
        return {"kind": kind, "links": choose_links(ctx.dc_names, rng),
                "attributes": degrade_attributes(kind, rng)}

    def apply(self, ctx: NemesisContext, f: str, value: dict[str, Any]) -> dict[str, Any]:
        wan = _require_wan(ctx, self.name)
        if f == self.start_f:
            if "kind" not in value:
                value.update(self.start_value(ctx, ctx.rng))
            links = [tuple(link) for link in value["links"]]
            wan.degrade(value["kind"], links=links, **value["attributes"])
            return value
        wan.restore_wan()
        return value
