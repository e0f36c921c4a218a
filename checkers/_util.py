"""Small shared helpers for the checkers: quantiles, unit conversion, verdict composition."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Verdict = bool | str  # True, False or "unknown"
UNKNOWN = "unknown"
NS_PER_MS = 1_000_000


def ns_to_ms(ns: float) -> float:
    """Nanoseconds to milliseconds, rounded to a microsecond."""
    return round(ns / NS_PER_MS, 3)


def quantiles(values: Sequence[float], scale: float = 1.0, digits: int = 3) -> dict[str, Any]:
    """`p50/p95/p99/max` (nearest rank) of `values` divided by `scale`; `None`s when empty."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float:
        position = max(0, min(n - 1, -(-int(q * n * 1000) // 1000) - 1))
        return round(ordered[position] / scale, digits)

    return {"count": n, "p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99),
            "max": round(ordered[-1] / scale, digits)}


def mean(values: Sequence[float], scale: float = 1.0) -> float | None:
    """Arithmetic mean divided by `scale`, or `None` when empty."""
    return round(sum(values) / len(values) / scale, 3) if values else None


def compose(verdicts: Iterable[Any]) -> Verdict:
    """Merge verdicts: false beats unknown beats true. Accepts results dicts or bare verdicts."""
    merged: Verdict = True
    for item in verdicts:
        verdict = item.get("valid", UNKNOWN) if isinstance(item, dict) else item
        if verdict is False:
            return False
        if verdict is not True:
            merged = UNKNOWN
    return merged


def unknown(reason: str, **fields: Any) -> dict[str, Any]:
    """A result with `valid: "unknown"` and the reason the input was lacking."""
    return {"valid": UNKNOWN, "reason": reason, **fields}
