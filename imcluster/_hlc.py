"""Hybrid logical clock (Kulkarni et al.): timestamps `(wall_ns, logical)` that never go back.

Pure data: the physical time is an argument of every call.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Hlc:
    """The last timestamp issued or observed by this node."""

    wall_ns: int = 0
    logical: int = 0

    def now(self, physical_ns: int) -> tuple[int, int]:
        """Timestamp for a local event at physical time `physical_ns`."""
        if physical_ns > self.wall_ns:
            self.wall_ns, self.logical = physical_ns, 0
        else:
            self.logical += 1
        return (self.wall_ns, self.logical)

    def observe(self, remote: tuple[int, int], physical_ns: int) -> tuple[int, int]:
        """Merge a timestamp received from another node; returns the new local timestamp."""
        remote_wall, remote_logical = remote
        wall = max(self.wall_ns, remote_wall, physical_ns)
        if wall == self.wall_ns and wall == remote_wall:
            logical = max(self.logical, remote_logical) + 1
        elif wall == self.wall_ns:
            logical = self.logical + 1
        elif wall == remote_wall:
            logical = remote_logical + 1
        else:
            logical = 0
        self.wall_ns, self.logical = wall, logical
        return (wall, logical)

    def advance_to(self, stamp: tuple[int, int]) -> None:
        """Make sure later timestamps are above `stamp` (used when restoring from a store)."""
        if tuple(stamp) > (self.wall_ns, self.logical):
            self.wall_ns, self.logical = stamp[0], stamp[1]


__all__ = ["Hlc"]
