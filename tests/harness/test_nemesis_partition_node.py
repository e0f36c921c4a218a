"""`partition-node` is docker-only: on a backend without `isolate_node` its setup refuses with a
usage error that names the docker backend; its start value picks an access node."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import pytest

from harness.errors import UsageError
from harness.nemesis import NemesisContext, available_nemeses, get_nemesis


class _NodesOnly:
    name = "local"

    def nodes(self) -> list[Any]:
        return [SimpleNamespace(name="dc1-hub", dc="dc1", role="hub"),
                SimpleNamespace(name="dc1-a1", dc="dc1", role="access"),
                SimpleNamespace(name="dc1-a2", dc="dc1", role="access")]

    def kill(self, node: str) -> None: ...
    def restart(self, node: str) -> None: ...


class _WithIsolation(_NodesOnly):
    name = "docker"

    def isolate_node(self, node: str) -> None: ...
    def rejoin_node(self, node: str) -> None: ...


def _ctx(backend: Any) -> NemesisContext:
    return NemesisContext(backend=backend, dc_names=["dc1"], rng=random.Random(3), options={})


def test_listed_in_the_catalogue() -> None:
    assert "partition-node" in available_nemeses()


def test_refused_on_a_backend_that_cannot_cut_one_node() -> None:
    with pytest.raises(UsageError, match="docker"):
        get_nemesis("partition-node").setup(_ctx(_NodesOnly()))


def test_start_value_names_an_access_node() -> None:
    nemesis = get_nemesis("partition-node")
    ctx = _ctx(_WithIsolation())
    nemesis.setup(ctx)
    for seed in range(20):
        assert nemesis.start_value(ctx, random.Random(seed))["node"] in {"dc1-a1", "dc1-a2"}
