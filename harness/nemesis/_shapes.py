"""Partition shapes: pure functions from DC names and a seeded rng to a grudge.

A *grudge* is `{dc: [dcs it cannot hear from]}` (every DC is a key; lists sorted). Each shape is
computed with networkx as a "hears" graph, a subgraph of the complete DC graph (directed for the
asymmetric shape): `b` in `grudge[a]` iff there is no edge `b -> a`. `Wan.apply_grudge` turns a
grudge into Toxiproxy toxics; the grudge is also recorded in the nemesis op's value.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import networkx as nx

__all__ = [
    "SHAPES",
    "Grudge",
    "complete_dc_graph",
    "cut_off_dcs",
    "grudge_from_hears_graph",
    "hears_graph_from_grudge",
    "partition_bridge",
    "partition_halves",
    "partition_one",
    "partition_oneway",
    "partition_ring",
    "ring_reach",
]

Grudge = dict[str, list[str]]


def complete_dc_graph(dcs: Sequence[str]) -> nx.Graph:
    """The complete undirected graph on the DCs: every DC hears every other."""
    return nx.complete_graph(list(dcs))


def grudge_from_hears_graph(dcs: Sequence[str], hears: nx.Graph | nx.DiGraph) -> Grudge:
    """Grudge of a "hears" graph: `a` cannot hear `b` iff there is no edge `b -> a` (or `b - a`)."""
    grudge: Grudge = {}
    for a in dcs:
        grudge[a] = sorted(b for b in dcs if b != a and not hears.has_edge(b, a))
    return grudge


def hears_graph_from_grudge(grudge: Grudge) -> nx.DiGraph:
    """Inverse of `grudge_from_hears_graph`: directed graph with an edge `b -> a` when a hears b."""
    dcs = sorted(grudge)
    graph = nx.DiGraph()
    graph.add_nodes_from(dcs)
    for a in dcs:
        cut = set(grudge[a])
        graph.add_edges_from((b, a) for b in dcs if b != a and b not in cut)
    return graph


def _require(dcs: Sequence[str], at_least: int, shape: str) -> list[str]:
    names = list(dcs)
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate DC names: {names}")
    if len(names) < at_least:
        raise ValueError(f"{shape} needs at least {at_least} DCs, got {len(names)}")
    return names


def partition_one(dcs: Sequence[str], rng: random.Random) -> Grudge:
    """Isolate one random DC from all the others (symmetric)."""
    names = _require(dcs, 2, "partition-one")
    isolated = rng.choice(names)
    hears = complete_dc_graph(names)
    hears.remove_edges_from(list(hears.edges(isolated)))
    return grudge_from_hears_graph(names, hears)


def partition_halves(dcs: Sequence[str], rng: random.Random) -> Grudge:
    """Random bisection into two halves (sizes differ by at most one) that cannot hear each other."""
    names = _require(dcs, 2, "partition-halves")
    shuffled = names[:]
    rng.shuffle(shuffled)
    half = len(shuffled) // 2
    hears = nx.union(complete_dc_graph(shuffled[:half]), complete_dc_graph(shuffled[half:]))
    return grudge_from_hears_graph(names, hears)


def ring_reach(n: int) -> int:
    """Ring distance each DC hears in `partition-ring` so that it hears a strict majority."""
    return max(1, (n // 2 + 1) // 2)


def partition_ring(dcs: Sequence[str], rng: random.Random) -> Grudge:
    """Majorities ring: DCs on a random ring hear only the DCs within `ring_reach(n)` hops.

    Each DC (with itself) hears a strict majority, no DC hears everyone (n >= 4), and no two
    DCs hear the same majority: Jepsen's `majorities-ring`. Needs at least 4 DCs (with 3 the
    ring is the complete graph).
    """
    names = _require(dcs, 4, "partition-ring")
    ring = names[:]
    rng.shuffle(ring)
    n = len(ring)
    hears = nx.Graph()
    hears.add_nodes_from(ring)
    for i, dc in enumerate(ring):
        for hop in range(1, ring_reach(n) + 1):
            hears.add_edge(dc, ring[(i + hop) % n])
    return grudge_from_hears_graph(names, hears)


def partition_bridge(dcs: Sequence[str], rng: random.Random) -> Grudge:
    """Two halves that cannot hear each other, plus one bridge DC that hears (and is heard by) both."""
    names = _require(dcs, 3, "partition-bridge")
    shuffled = names[:]
    rng.shuffle(shuffled)
    bridge, rest = shuffled[0], shuffled[1:]
    half = len(rest) // 2
    left, right = rest[:half], rest[half:]
    hears = nx.compose(complete_dc_graph([bridge, *left]), complete_dc_graph([bridge, *right]))
    return grudge_from_hears_graph(names, hears)


def partition_oneway(dcs: Sequence[str], rng: random.Random) -> Grudge:
    """Asymmetric cut: a random non-empty set of DCs cannot hear from a disjoint non-empty set.

    The other direction still works: the second set keeps hearing the first.
    """
    names = _require(dcs, 2, "partition-oneway")
    shuffled = names[:]
    rng.shuffle(shuffled)
    deaf_count = rng.randint(1, len(shuffled) - 1)
    deaf = shuffled[:deaf_count]
    others = shuffled[deaf_count:]
    silenced = others[: rng.randint(1, len(others))]
    hears = nx.complete_graph(names, create_using=nx.DiGraph)
    hears.remove_edges_from([(src, dst) for dst in deaf for src in silenced])
    return grudge_from_hears_graph(names, hears)


def cut_off_dcs(grudges: Sequence[Grudge]) -> list[str]:
    """The DCs whose updates reach the fewest other DCs while every grudge in `grudges` holds.

    Gossip relays through third DCs, so an update of `d` reaches the descendants of `d` in the
    "hears" graph of the combined cuts. A DC that reaches the fewest holds data that exists
    nowhere else (e.g. the isolated DC of `partition-one`, the smaller side of
    `partition-halves`). Empty when every DC still reaches every other (no cut, or a ring or
    bridge that relays around the cuts). Sorted.
    """
    if not grudges:
        return []
    dcs = sorted({dc for grudge in grudges for dc in grudge})
    combined: Grudge = {dc: sorted({b for g in grudges for b in g.get(dc, [])}) for dc in dcs}
    hears = hears_graph_from_grudge(combined)
    reach = {dc: len(nx.descendants(hears, dc)) for dc in dcs}
    fewest = min(reach.values())
    if fewest >= len(dcs) - 1:
        return []
    return [dc for dc in dcs if reach[dc] == fewest]


SHAPES: dict[str, Callable[[Sequence[str], random.Random], Grudge]] = {
    "partition-one": partition_one,
    "partition-halves": partition_halves,
    "partition-ring": partition_ring,
    "partition-bridge": partition_bridge,
    "partition-oneway": partition_oneway,
}
