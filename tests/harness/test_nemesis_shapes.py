"""Properties of the pure partition shapes (no sockets): symmetry, components, bridge, majorities."""

from __future__ import annotations

import random

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.nemesis import SHAPES
from harness.nemesis._shapes import (
    grudge_from_hears_graph,
    hears_graph_from_grudge,
    partition_bridge,
    partition_halves,
    partition_one,
    partition_oneway,
    partition_ring,
    ring_reach,
)


def dcs(n: int) -> list[str]:
    return [f"dc{i}" for i in range(1, n + 1)]


def is_symmetric(grudge: dict[str, list[str]]) -> bool:
    return all(a in grudge[b] for a, cut in grudge.items() for b in cut)


def undirected_hears(grudge: dict[str, list[str]]) -> nx.Graph:
    directed = hears_graph_from_grudge(grudge)
    graph = nx.Graph()
    graph.add_nodes_from(directed.nodes)
    graph.add_edges_from((a, b) for a, b in directed.edges if directed.has_edge(b, a))
    return graph


def well_formed(grudge: dict[str, list[str]], names: list[str]) -> None:
    assert sorted(grudge) == sorted(names)
    for dc, cut in grudge.items():
        assert dc not in cut, "a DC never holds a grudge against itself"
        assert cut == sorted(set(cut)), "lists are sorted, without repeats"
        assert set(cut) <= set(names)


sizes = st.integers(min_value=2, max_value=9)
seeds = st.integers(min_value=0, max_value=2**32)


@settings(max_examples=60, deadline=None)
@given(sizes, seeds)
def test_partition_one_isolates_exactly_one_dc(n: int, seed: int) -> None:
    names = dcs(n)
    grudge = partition_one(names, random.Random(seed))
    well_formed(grudge, names)
    assert is_symmetric(grudge)
    components = sorted(nx.connected_components(undirected_hears(grudge)), key=len)
    assert len(components) == 2
    assert len(components[0]) == 1
    (isolated,) = components[0]
    assert grudge[isolated] == sorted(set(names) - {isolated})
    assert all(grudge[dc] == [isolated] for dc in names if dc != isolated)


@settings(max_examples=60, deadline=None)
@given(sizes, seeds)
def test_partition_halves_is_a_balanced_bisection_of_cliques(n: int, seed: int) -> None:
    names = dcs(n)
    grudge = partition_halves(names, random.Random(seed))
    well_formed(grudge, names)
    assert is_symmetric(grudge)
    hears = undirected_hears(grudge)
    components = list(nx.connected_components(hears))
    assert len(components) == 2
    assert abs(len(components[0]) - len(components[1])) <= 1
    for component in components:
        size = len(component)
        assert hears.subgraph(component).number_of_edges() == size * (size - 1) // 2


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=4, max_value=11), seeds)
def test_partition_ring_every_dc_hears_a_distinct_majority(n: int, seed: int) -> None:
    names = dcs(n)
    grudge = partition_ring(names, random.Random(seed))
    well_formed(grudge, names)
    assert is_symmetric(grudge)
    hears = undirected_hears(grudge)
    majority = n // 2 + 1
    views = set()
    for dc in names:
        view = frozenset(hears.neighbors(dc)) | {dc}
        assert len(view) >= majority, "each DC hears a majority (itself included)"
        assert len(view) < n, "no DC hears everyone"
        views.add(view)
    assert len(views) == n, "no two DCs see the same majority"
    assert nx.is_connected(hears), "the ring is still connected as a whole"
    assert all(d == 2 * ring_reach(n) for _, d in hears.degree())


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=3, max_value=9), seeds)
def test_partition_bridge_has_one_bridge_joining_two_cut_halves(n: int, seed: int) -> None:
    names = dcs(n)
    grudge = partition_bridge(names, random.Random(seed))
    well_formed(grudge, names)
    assert is_symmetric(grudge)
    hears = undirected_hears(grudge)
    bridges = [dc for dc in names if grudge[dc] == []]
    assert len(bridges) == 1
    (bridge,) = bridges
    assert nx.is_connected(hears)
    assert list(nx.articulation_points(hears)) == [bridge]
    rest = hears.copy()
    rest.remove_node(bridge)
    halves = list(nx.connected_components(rest))
    assert len(halves) == 2
    assert abs(len(halves[0]) - len(halves[1])) <= 1
    left, right = halves
    assert all(sorted(right) == grudge[dc] for dc in left)


@settings(max_examples=60, deadline=None)
@given(sizes, seeds)
def test_partition_oneway_cuts_one_direction_only(n: int, seed: int) -> None:
    names = dcs(n)
    grudge = partition_oneway(names, random.Random(seed))
    well_formed(grudge, names)
    deaf = {dc for dc in names if grudge[dc]}
    silenced = set().union(*(set(grudge[dc]) for dc in deaf))
    assert deaf and silenced
    assert not deaf & silenced
    assert all(set(grudge[dc]) == silenced for dc in deaf), "one set cannot hear another set"
    assert all(grudge[dc] == [] for dc in silenced), "the silenced side still hears everyone"
    assert not is_symmetric(grudge)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_same_seed_same_grudge_and_seeds_vary(shape: str) -> None:
    names = dcs(5)
    first = SHAPES[shape](names, random.Random(42))
    assert first == SHAPES[shape](names, random.Random(42))
    assert len({repr(SHAPES[shape](names, random.Random(s))) for s in range(30)}) > 1


def test_grudge_round_trips_through_the_hears_graph() -> None:
    names = dcs(6)
    grudge = partition_oneway(names, random.Random(3))
    assert grudge_from_hears_graph(names, hears_graph_from_grudge(grudge)) == grudge


@pytest.mark.parametrize(("shape", "too_few"), [("partition-ring", 3), ("partition-bridge", 2),
                                               ("partition-one", 1)])
def test_shapes_refuse_too_few_dcs(shape: str, too_few: int) -> None:
    with pytest.raises(ValueError, match="at least"):
        SHAPES[shape](dcs(too_few), random.Random(0))
