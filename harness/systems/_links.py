"""Link verification on the local backend: the live TCP connections of each DC's processes.

Every node of a DC is a process on loopback. A connection that a process of DC `a` holds to a
port on which a process of DC `b` (b != a) listens went around the WAN: inter-DC traffic must go to
the Toxiproxy proxy `a->b` instead. `local_bypasses` reads `/proc/net/tcp{,6}` (established
sockets) and `/proc/<pid>/fd` (which process owns which socket) - no tool, no root.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["established", "established_sockets", "local_bypasses", "outgoing_ports",
           "socket_inodes"]

_ESTABLISHED = "01"


def established() -> dict[int, tuple[int, int]]:
    """{socket inode: (local port, remote port)} of every established TCP socket (v4 and v6)."""
    return {inode: (local[1], remote[1])
            for inode, local, remote in established_sockets(_read(t) for t in _TABLES)}


_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def established_sockets(tables: Iterable[str]
                        ) -> list[tuple[int, tuple[str, int], tuple[str, int]]]:
    """(inode, (local ip, port), (remote ip, port)) of each established socket listed in the
    text of `/proc/net/tcp`-format `tables` (IPv4 addresses dotted, others as hex)."""
    result = []
    for text in tables:
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) < 10 or fields[3] != _ESTABLISHED:
                continue
            result.append((int(fields[9]), _address(fields[1]), _address(fields[2])))
    return result


def _address(field: str) -> tuple[str, int]:
    """`0100007F:1F90` -> ("127.0.0.1", 8080) (IPv4 is little-endian hex in /proc)."""
    ip, port = field.rsplit(":", 1)
    if len(ip) == 32 and ip.startswith("0000000000000000FFFF0000"):  # IPv4-mapped IPv6
        ip = ip[24:]
    if len(ip) == 8:
        ip = ".".join(str(b) for b in reversed(bytes.fromhex(ip)))
    elif ip == "00000000000000000000000001000000":
        ip = "::1"
    return ip, int(port, 16)


def socket_inodes(pid: int) -> set[int]:
    """Inodes of the sockets process `pid` holds open (empty when it is gone)."""
    inodes: set[int] = set()
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"{fd_dir}/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def local_bypasses(pids: Mapping[str, list[int]], listen_ports: Mapping[str, set[int]],
                   proxy_ports: Mapping[str, int] | None = None) -> list[str]:
    """Connections from a process of one DC straight to a listening port of another DC, each as
    `"src->dst: pid P (process of src) is connected to port X of dst directly"` (sorted).

    `pids`: {dc: pids of its processes}; `listen_ports`: {dc: every port its processes listen on};
    `proxy_ports`: {"src->dst": listen port of that proxy}, named in the message."""
    sockets = established()
    owner_of_port = {port: dc for dc, ports in listen_ports.items() for port in ports}
    found: set[str] = set()
    for dc, dc_pids in pids.items():
        for pid in dc_pids:
            for inode in socket_inodes(pid):
                ends = sockets.get(inode)
                if ends is None:
                    continue
                local_port, remote_port = ends
                other = owner_of_port.get(remote_port)
                if other is None or other == dc or local_port in listen_ports.get(dc, ()):
                    continue  # not an outgoing connection into another DC
                link = f"{dc}->{other}"
                proxy = (proxy_ports or {}).get(link)
                via = f" (its proxy listens on port {proxy})" if proxy else ""
                found.add(f"{link}: pid {pid} of {dc} is connected to port {remote_port} of "
                          f"{other} directly, not through the WAN{via}")
    return sorted(found)


def outgoing_ports(pid: int, listen_ports: set[int]) -> list[int]:
    """Remote ports of the established connections process `pid` opened (those whose local
    port is not one it listens on)."""
    sockets = established()
    return sorted(ends[1] for inode in socket_inodes(pid)
                  if (ends := sockets.get(inode)) is not None and ends[0] not in listen_ports)
