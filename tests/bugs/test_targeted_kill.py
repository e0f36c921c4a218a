"""Targeted faults without processes: inside a composed partition, `kill` picks the hub of a DC
the partition cuts off (so its unreplicated updates exist only there), seeded and replayable."""

from __future__ import annotations

import random

from harness.backends._base import NodeInfo
from harness.nemesis import NemesisContext, get_nemesis
from harness.nemesis._shapes import cut_off_dcs


class NodeListing:
    """The part of a backend a schedule reads: the node names (hubs and access nodes)."""

    def __init__(self, dcs: int) -> None:
        self.listing = [NodeInfo(f"dc{i}-{suffix}", f"dc{i}", role, "127.0.0.1", 0)
                        for i in range(1, dcs + 1)
                        for suffix, role in (("hub", "hub"), ("a1", "access"))]

    def nodes(self) -> list[NodeInfo]:
        return list(self.listing)


def context(seed: int, dcs: int = 5, interval: float = 5) -> NemesisContext:
    return NemesisContext(backend=NodeListing(dcs), dc_names=[f"dc{i}" for i in range(1, dcs + 1)],
                          rng=random.Random(seed), options={"nemesis_interval": interval})


def test_cut_off_dcs_of_each_shape() -> None:
    dcs = ["dc1", "dc2", "dc3", "dc4", "dc5"]
    one = {"dc1": [], "dc2": [], "dc3": ["dc1", "dc2", "dc4", "dc5"], "dc4": [], "dc5": []}
    one = {dc: (["dc3"] if dc != "dc3" else cut) for dc, cut in one.items()}
    assert cut_off_dcs([one]) == ["dc3"]
    halves = {"dc1": ["dc3", "dc4", "dc5"], "dc2": ["dc3", "dc4", "dc5"],
              "dc3": ["dc1", "dc2"], "dc4": ["dc1", "dc2"], "dc5": ["dc1", "dc2"]}
    assert cut_off_dcs([halves]) == ["dc1", "dc2"]
    healed: dict[str, list[str]] = {dc: [] for dc in dcs}
    assert cut_off_dcs([healed]) == [] and cut_off_dcs([]) == []
    # a one-way cut: dc1 cannot hear dc2, but dc2's updates still reach dc1 through dc3
    relayed = {"dc1": ["dc2"], "dc2": [], "dc3": []}
    assert cut_off_dcs([relayed]) == []


def test_kill_inside_a_partition_targets_the_cut_off_hub() -> None:
    for seed in range(20):
        steps = get_nemesis("partition-one,kill").schedule(context(seed)).until(60)
        grudge = None
        kills = 0
        for step in steps:
            if step.f == "start-partition":
                grudge = step.value["grudge"]
            elif step.f == "stop-partition":
                grudge = None
            elif step.f == "kill":
                assert grudge is not None  # the stagger puts each kill inside a partition
                isolated = [dc for dc, cut in grudge.items() if len(cut) == 4]
                assert step.value["node"] == f"{isolated[0]}-hub"
                assert step.value["target"] == "cut-off hub"
                assert step.value["cut_off_by"] == "partition-one"
                kills += 1
        assert kills == 6


def test_targeted_schedule_is_replayable_and_kill_alone_stays_random() -> None:
    first = get_nemesis("partition-halves,kill").schedule(context(3)).until(60)
    assert first == get_nemesis("partition-halves,kill").schedule(context(3)).until(60)
    alone = [s.value["node"] for s in get_nemesis("kill").schedule(context(3)).until(200)
             if s.f == "kill"]
    assert any(not node.endswith("-hub") for node in alone)  # access nodes too
    assert all("target" not in s.value for s in get_nemesis("kill").schedule(context(3)).until(60))


def test_kill_outside_any_partition_keeps_its_random_node() -> None:
    # partition first at 10 s (interval 10, offset 0), kill at 5+10=15 s: inside; with the kill
    # composed before the partition its first kill (at 10 s) comes before any partition
    steps = get_nemesis("kill,partition-one").schedule(context(1, interval=10)).until(12)
    kill = next(s for s in steps if s.f == "kill")
    assert "target" not in kill.value
