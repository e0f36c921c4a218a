"""The cores' clocks: the hybrid logical clock (Kulkarni et al.), timestamps `(wall_ns, logical)`
that never go back, and the elapsed-time rule that every timeout and wait follows.

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


def elapsed_after(elapsed_ns: int, last_wall_ns: int | None, wall_ns: int) -> int:
    """The elapsed-time clock after the wall-clock reading `wall_ns` (the previous reading was
    `last_wall_ns`, None before the first): equal to the wall clock until it first goes back, then
    advanced only by its forward steps, so that a clock set back (NTP, the clock-skew nemesis)
    stalls no timeout. Both cores measure every duration on it and stamp with the wall clock."""
    if last_wall_ns is None:
        return wall_ns
    if wall_ns > last_wall_ns:
        return elapsed_ns + wall_ns - last_wall_ns
    return elapsed_ns


__all__ = ["Hlc", "elapsed_after"]
