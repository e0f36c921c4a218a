"""Reading a `results.json` dict defensively: verdicts, key numbers, offending ids.

Shared by the HTML report and the terminal summary. Checker results may lack fields (a checker that
lacked its input answers `unknown` with a `reason`), so nothing here assumes a field exists.
"""

from __future__ import annotations

from typing import Any

CHECKER_ORDER = ["delivery", "convergence", "routing", "ordering", "availability", "stats", "perf"]
VERDICT_COLOURS = {"valid": "#2e7d32", "invalid": "#c62828", "unknown": "#ef8f00"}
PROBLEM_KINDS = ["lost", "duplicated", "misdelivered", "unexpected", "corrupted", "failed_delivered"]

_PREFERRED: dict[str, list[str]] = {
    "delivery": [
        "attempted", "acknowledged", "delivered", "lost_count", "duplicated_count",
        "latency.overall.p50", "latency.overall.p99", "misdelivered_count", "unexpected_count",
    ],
    "convergence": [
        "rounds.p50", "rounds.p99", "theory_rounds", "ms.p50", "ms.p99", "unconverged_count",
    ],
    "routing": ["checked", "wrong_count"],
    "ordering": ["out_of_order", "pairs"],
    "availability": ["fraction", "ok_fraction", "overall"],
}


def verdict_of(value: Any) -> str:
    """`valid`, `invalid` or `unknown` for a `valid` field."""
    if value is True:
        return "valid"
    if value is False:
        return "invalid"
    return "unknown"


def checker_names(results: dict[str, Any]) -> list[str]:
    """Checker keys of a results dict: the known ones in order, then any others."""
    others = sorted(k for k, v in results.items() if isinstance(v, dict) and k not in CHECKER_ORDER)
    return [k for k in CHECKER_ORDER if isinstance(results.get(k), dict)] + others


def overall_verdict(results: dict[str, Any] | None) -> str:
    """The run's verdict: the top-level `valid`, else composed (false > unknown > true)."""
    if not results:
        return "unknown"
    if "valid" in results:
        return verdict_of(results["valid"])
    verdicts = [verdict_of(results[name].get("valid")) for name in checker_names(results)]
    if "invalid" in verdicts:
        return "invalid"
    if not verdicts or "unknown" in verdicts:
        return "unknown"
    return "valid"


def flatten(result: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Scalar fields as dotted paths; lists as their length; `valid` left out."""
    items: list[tuple[str, Any]] = []
    if not isinstance(result, dict):
        return items
    for key, value in result.items():
        path = f"{prefix}{key}"
        if path == "valid":
            continue
        if isinstance(value, dict):
            items += flatten(value, path + ".")
        elif isinstance(value, list):
            items.append((path, f"{len(value)} items"))
        else:
            items.append((path, value))
    return items


def format_number(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value).lower() if isinstance(value, bool) else "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e6 else f"{value:.3e}"
    return str(value)


def key_numbers(name: str, result: dict[str, Any], limit: int = 8) -> list[tuple[str, str]]:
    """A checker's headline numbers, for the verdict table."""
    if verdict_of(result.get("valid")) == "unknown" and result.get("reason"):
        return [("reason", str(result["reason"]))]
    flat = [(path, value) for path, value in flatten(result) if not isinstance(value, str)]
    chosen: list[tuple[str, str]] = []
    for wanted in _PREFERRED.get(name, []):
        for path, value in flat:
            matches = path == wanted or path.endswith("." + wanted)
            if matches and all(path != c for c, _ in chosen):
                chosen.append((path, format_number(value)))
                break
        if len(chosen) >= limit:
            break
    if not chosen:
        chosen = [(path, format_number(value)) for path, value in flat[:4]]
    return chosen


def problem_ids(delivery: Any, kind: str) -> list[str]:
    """Offending ids of one kind from a delivery result: lists of ids or of {id: ..}, or dicts."""
    if not isinstance(delivery, dict):
        return []
    value = delivery.get(kind)
    if isinstance(value, dict):
        return sorted(str(k) for k in value)
    if isinstance(value, list):
        ids = []
        for item in value:
            ids.append(str(item.get("id")) if isinstance(item, dict) else str(item))
        return ids
    return []


def problem_count(delivery: Any, kind: str) -> int:
    """The `<kind>_count` field, else the length of the id list."""
    if isinstance(delivery, dict) and isinstance(delivery.get(f"{kind}_count"), int):
        return int(delivery[f"{kind}_count"])
    return len(problem_ids(delivery, kind))
