"""A pure, splittable pseudo-random number generator for the generators.

Generators are pure values, so their randomness is an immutable state advanced explicitly:
`value, rng = rng.random()`. SplitMix64; seeds derived from `(seed, label)` with BLAKE2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_MASK = (1 << 64) - 1


def derive_seed(seed: int, label: str) -> int:
    """A 64-bit seed for the stream named `label` of the run seeded `seed`."""
    digest = hashlib.blake2b(f"{seed}|{label}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(frozen=True, init=False)
class Rng:
    """Immutable SplitMix64 state."""

    state: int

    def __init__(self, state: int) -> None:
        object.__setattr__(self, "state", state)

    @classmethod
    def from_seed(cls, seed: int, label: str = "") -> Rng:
        return cls(derive_seed(seed, label))

    def next64(self) -> tuple[int, Rng]:
        state = (self.state + 0x9E3779B97F4A7C15) & _MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
        return z ^ (z >> 31), Rng(state)

    def random(self) -> tuple[float, Rng]:
        """Uniform float in [0, 1)."""
        value, rng = self.next64()
        return (value >> 11) / float(1 << 53), rng

    def randrange(self, n: int) -> tuple[int, Rng]:
        """Uniform int in [0, n)."""
        if n <= 0:
            raise ValueError("empty range")
        value, rng = self.random()
        return min(int(value * n), n - 1), rng

    def choice(self, items: Sequence[T]) -> tuple[T, Rng]:
        index, rng = self.randrange(len(items))
        return items[index], rng

    def uniform(self, low: float, high: float) -> tuple[float, Rng]:
        value, rng = self.random()
        return low + (high - low) * value, rng


__all__ = ["Rng", "derive_seed"]
