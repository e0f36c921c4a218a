"""The ordering checker: per sender -> recipient pair, were messages received in send order?

Sends of a pair are ranked by invocation (history position). Walking the recipient's first
receipts in history order, a receipt whose send ranks below one already received for the same pair
is out of order. Reported always; valid is false only when `options["max_out_of_order"]` is set
and exceeded.
"""

from __future__ import annotations

from typing import Any

from ._index import S_FROM, S_ID, S_INVOKE_RANK, S_TO, HistoryIndex, Op, index_history
from ._util import unknown

_EXAMPLES = 20


def check_ordering(
    history: list[Op] | HistoryIndex | None,
    events: list[Op] | None = None,
    options: dict[str, Any] | None = None,
    final: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Count receipts that overtook an earlier send of the same sender to the same recipient."""
    if history is None:
        return unknown("no history")
    options = options or {}
    index = index_history(history)
    # (from, to) -> the send row of the latest-sent message received so far
    latest: dict[tuple[Any, Any], list[Any]] = {}
    out_of_order = 0
    pairs_affected: set[tuple[Any, Any]] = set()
    examples: list[dict[str, Any]] = []
    for send, _, _ in index.deliveries:
        pair = (send[S_FROM], send[S_TO])
        best = latest.get(pair)
        if best is None or send[S_INVOKE_RANK] > best[S_INVOKE_RANK]:
            latest[pair] = send
            continue
        out_of_order += 1
        pairs_affected.add(pair)
        if len(examples) < _EXAMPLES:
            examples.append({"from": pair[0], "to": pair[1], "id": send[S_ID],
                             "after": best[S_ID]})
    checked = len(index.deliveries)
    limit = options.get("max_out_of_order")
    valid = True if limit is None else out_of_order <= int(limit)
    return {
        "valid": valid,
        "pairs": len(latest),
        "checked": checked,
        "out_of_order": out_of_order,
        "pairs_out_of_order": len(pairs_affected),
        "examples": examples,
        "max_out_of_order": limit,
    }
