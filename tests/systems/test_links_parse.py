"""`_links.established_sockets`: the /proc/net/tcp text read inside a container (docker link
checks) gives each established socket's addresses, IPv4, IPv4-mapped IPv6 and loopback alike."""

from __future__ import annotations

from harness.systems._links import established_sockets

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  " \
         "timeout inode\n"


def test_addresses_and_states() -> None:
    tcp = HEADER + (
        "   0: 0200A8C0:075B 0300A8C0:9C40 01 00000000:00000000 00:00000000 00000000  0 0 111 1\n"
        "   1: 00000000:075B 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0 0 112 1\n")
    tcp6 = HEADER + (
        "   0: 0000000000000000FFFF00000200A8C0:1CB6 0000000000000000FFFF00000400A8C0:4E20 01 "
        "00000000:00000000 00:00000000 00000000 0 0 113 1\n"
        "   1: 00000000000000000000000001000000:1CB6 00000000000000000000000001000000:D431 01 "
        "00000000:00000000 00:00000000 00000000 0 0 114 1\n")
    assert established_sockets([tcp, tcp6]) == [
        (111, ("192.168.0.2", 1883), ("192.168.0.3", 40000)),  # the listening one (0A) left out
        (113, ("192.168.0.2", 7350), ("192.168.0.4", 20000)),
        (114, ("::1", 7350), ("::1", 54321)),
    ]
