"""The swarm backend's hub command (no Docker needed): the hubs' peer timeout grows with the
number of DCs beyond 5 (at 20 DCs on loaded cores a handshake outlasted imcluster's 1.5 s and the
380 links redialled without end), and the hub's own parser reads what the backend builds."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.backends import ClusterSpec
from harness.backends.swarm import SwarmBackend, peer_timeout_s
from imcluster.__main__ import build_parser


@pytest.mark.parametrize(("dcs", "expected"), [(1, 1.5), (2, 1.5), (5, 1.5), (10, 3.0),
                                               (20, 6.0)])
def test_peer_timeout_grows_with_the_dcs_beyond_five(dcs: int, expected: float) -> None:
    assert peer_timeout_s(dcs) == pytest.approx(expected)


def test_hub_command_carries_the_scaled_peer_timeout(tmp_path: Path) -> None:
    spec = ClusterSpec(dcs=20, work_dir=tmp_path)
    backend = SwarmBackend(run_id="unit")
    backend.toxiproxy_addresses = {dc: f"10.0.{i}.4" for i, dc in enumerate(spec.dc_names)}
    backend._links = {(s, d): f"10.0.{i}.4:{30000 + j}" for i, s in enumerate(spec.dc_names)
                      for j, d in enumerate(spec.dc_names) if s != d}
    args = build_parser().parse_args(backend._hub_command(spec, 0, "dc1"))
    assert args.peer_timeout == pytest.approx(6.0)
    assert len(args.peer) == 19
