"""Listen ports of local nodes come from outside the kernel's ephemeral range (found by a bug run:
a hub's port, free when chosen, was taken as the source port of toxiproxy dialling it -> the hub
could not bind it and the run failed at setup)."""

from __future__ import annotations

import socket

from harness._procs import LISTEN_PORT_FLOOR, ephemeral_port_range, free_port


def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range() -> None:
    low, high = ephemeral_port_range()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(LISTEN_PORT_FLOOR <= p < low or high < p <= 65535 for p in ports), ports
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports[-1]))
