"""The delivery checker: the IM counterpart of Jepsen's set-full (DESIGN §3).

- attempted: distinct message ids whose `send` was invoked; acknowledged: those completed `ok`.
- a receipt counts for the recipient when the `recv` op's `user` equals the message's `to`.
- lost: acknowledged, recipient online at the end of the history (its last `login` ok not followed
  by a `logout`), never received by the recipient. Acknowledged messages for recipients offline at
  the end are listed as `unverifiable`, not lost.
- recovered: indeterminate sends (`info`, or never completed) that the recipient received.
- unexpected: received ids never sent; misdelivered: received by someone other than `to`;
  duplicated: received by the recipient more than once. `failed_delivered`: a `fail`ed send that
  arrived anyway (reported, not part of the verdict, which follows DESIGN §3 exactly).
- latency: send invocation -> first receipt by the recipient, in ms, overall and split by the
  `via` (`online`/`offline`) of that first receipt.
- per_dc: attempted / acknowledged / delivered / lost per sending DC (the report's bars).
- valid iff nothing lost, unexpected or misdelivered; with option `exactly_once`, nothing duplicated.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ._index import S_DC, S_ID, S_INVOKE_TIME, S_OUTCOME, S_TO, HistoryIndex, Op, index_history
from ._util import NS_PER_MS, quantiles, unknown


def _sorted_ids(ids: Any) -> list[Any]:
    return sorted(ids, key=lambda item: (str(type(item)), item))


def check_delivery(
    history: list[Op] | HistoryIndex | None,
    events: list[Op] | None = None,
    options: dict[str, Any] | None = None,
    final: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Judge message delivery over a history (see the module docstring for the definitions)."""
    if history is None:
        return unknown("no history")
    options = options or {}
    index = index_history(history)
    sends = index.sends

    first_receipt = index.first_receipts
    duplicated = index.duplicated
    misdelivered = index.misdelivered
    unexpected = index.unexpected
    online = index.online

    acknowledged = [msg_id for msg_id, send in sends.items() if send[S_OUTCOME] == "ok"]
    unreceived = [msg_id for msg_id in acknowledged if msg_id not in first_receipt]
    lost = [msg_id for msg_id in unreceived if sends[msg_id][S_TO] in online]
    unverifiable = [msg_id for msg_id in unreceived if sends[msg_id][S_TO] not in online]
    recovered = [send[S_ID] for send, _ in index.deliveries
                 if send[S_OUTCOME] == "info" or send[S_OUTCOME] == "pending"]
    failed_delivered = [send[S_ID] for send, _ in index.deliveries if send[S_OUTCOME] == "fail"]
    delivered = len(index.deliveries)

    latencies_by_via: dict[str, list[int]] = {"online": [], "offline": []}
    for send, receipt in index.deliveries:
        via = receipt["value"].get("via")
        via_list = latencies_by_via.get(via)
        if via_list is None:
            via_list = latencies_by_via[str(via)] = []
        via_list.append(receipt["time"] - send[S_INVOKE_TIME])
    latencies = [latency for values in latencies_by_via.values() for latency in values]

    per_dc = _per_dc(index, acknowledged, lost)
    exactly_once = bool(options.get("exactly_once", False))
    valid = not lost and not unexpected and not misdelivered and not (exactly_once and duplicated)
    return {
        "valid": valid,
        "attempted": len(sends),
        "acknowledged": len(acknowledged),
        "delivered": delivered,
        "receipts": len(index.receipts),
        "lost": _sorted_ids(lost),
        "lost_count": len(lost),
        "recovered": _sorted_ids(recovered),
        "recovered_count": len(recovered),
        "unexpected": _sorted_ids(unexpected),
        "unexpected_count": len(unexpected),
        "misdelivered": _sorted_ids(misdelivered),
        "misdelivered_count": len(misdelivered),
        "duplicated": _sorted_ids(duplicated),
        "duplicated_count": len(duplicated),
        "duplicate_receipts": index.recipient_receipts - len(first_receipt),
        "failed_delivered": _sorted_ids(failed_delivered),
        "failed_delivered_count": len(failed_delivered),
        "unverifiable": _sorted_ids(unverifiable),
        "unverifiable_count": len(unverifiable),
        "exactly_once": exactly_once,
        "per_dc": per_dc,
        "latency": {
            "overall": quantiles(latencies, NS_PER_MS),
            **{via: quantiles(values, NS_PER_MS) for via, values in latencies_by_via.items()},
        },
    }


def _per_dc(index: HistoryIndex, acknowledged: list[Any], lost: list[Any]) -> dict[str, Any]:
    """attempted / acknowledged / delivered / lost per sending DC (the send's `dc`)."""
    sends = index.sends
    columns = {
        "attempted": Counter(send[S_DC] for send in sends.values()),
        "acknowledged": Counter(sends[msg_id][S_DC] for msg_id in acknowledged),
        "delivered": Counter(send[S_DC] for send, _ in index.deliveries),
        "lost": Counter(sends[msg_id][S_DC] for msg_id in lost),
    }
    dcs = sorted({str(dc) for dc in columns["attempted"]})
    by_name = {name: {str(dc): count for dc, count in column.items()}
               for name, column in columns.items()}
    return {dc: {name: by_name[name].get(dc, 0) for name in columns} for dc in dcs}
