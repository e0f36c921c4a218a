"""Judging a system by what it promises: the `guarantees` a run's `test.json` declares.

A system under test declares (harness `Guarantees`) whether an ack is durable, whether it may
duplicate, what order it keeps, and whether it reports replicated state and event logs. A run
without `guarantees` (written before systems existed, or by the reference cluster) is judged as
the reference cluster. Checkers that need what the system cannot give are `not_applicable`:
`valid: "unknown"` with `applicable: false` and the reason, left out of the composed verdict (a
missing input of a system that *should* give it still makes the verdict unknown).
"""

from __future__ import annotations

from typing import Any

from ._util import UNKNOWN

__all__ = ["KILL_FS", "guarantees_of", "not_applicable", "relax_delivery",
           "unavailable_checkers"]

KILL_FS = frozenset({"kill"})
"""Nemesis ops that crash a node (dc-outage kills with `kill` too)."""


def guarantees_of(options: dict[str, Any]) -> dict[str, Any]:
    raw = options.get("guarantees")
    return dict(raw) if isinstance(raw, dict) else {}


def not_applicable(reason: str) -> dict[str, Any]:
    return {"valid": UNKNOWN, "applicable": False, "reason": reason}


def unavailable_checkers(options: dict[str, Any]) -> dict[str, str]:
    """{checker: why it does not apply} for the run's system."""
    guarantees = guarantees_of(options)
    system = options.get("system", "the system")
    if guarantees.get("replicated_state") is False:
        why = f"{system} reports no replicated state (final.json): nothing to compare"
        return {"convergence": why, "routing": why}
    return {}


def relax_delivery(result: dict[str, Any], options: dict[str, Any],
                   nemesis_ops: list[dict[str, Any]]) -> dict[str, Any]:
    """When the system's acks are not durable and a node was killed, acknowledged messages that
    were lost (and nothing else wrong) are not a violation of its guarantees: `unknown`, with
    `lost_allowed` saying why; the lost ids stay listed."""
    if guarantees_of(options).get("durable_ack") is not False or result.get("valid") is not False:
        return result
    killed = any(op.get("f") in KILL_FS and op.get("type") == "invoke" for op in nemesis_ops)
    others = ("unexpected_count", "misdelivered_count", "corrupted_count",
              "failed_delivered_count")
    if not killed or not result.get("lost_count") or any(result.get(k) for k in others):
        return result
    return {**result, "valid": UNKNOWN,
            "lost_allowed": f"{options.get('system', 'the system')} does not promise a durable "
                            "ack and a node was killed: losing acknowledged messages is allowed"}
