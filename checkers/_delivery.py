"""The delivery checker: the IM counterpart of Jepsen's set-full (DESIGN §3).

- attempted: distinct message ids whose `send` was invoked; acknowledged: those completed `ok`
  (an id invoked again after an `info` or `fail`, e.g. a client retry, is acknowledged when any
  of its attempts completed `ok`).
- a receipt counts for the recipient when the `recv` op's `user` equals the message's `to`.
- lost: acknowledged, recipient online at the end of the history (its last `login` ok not followed
  by a `logout`), never received by the recipient. Acknowledged messages never received whose
  recipient is offline at the end are `unverifiable`; those recipients are `offline_at_end` and
  make the verdict `"unknown"` (in `imfault run` every user logs in during recovery, so one still
  offline is a failed recovery, never a pass).
- recovered: indeterminate sends (`info`, or never completed) that the recipient received.
- unexpected: received ids never sent (by anyone: one finding); misdelivered: a sent id received by
  someone other than `to`; corrupted: a sent id received with another `from` than the send's;
  failed_delivered: a send answered `fail` (it certainly did not happen) that the recipient
  received all the same. duplicated: received by the recipient more than once, split into
  `duplicated_avoidable` / `duplicated_unavoidable` from the event log (see `_duplicates`).
- latency: send invocation -> first receipt by the recipient, in ms, overall and split by the
  `via` (`online`/`offline`) of that first receipt.
- per_dc: attempted / acknowledged / delivered / lost per sending DC (the report's bars).
- valid iff nothing lost, unexpected, misdelivered, corrupted or failed_delivered and, with option
  `exactly_once`, no avoidable duplicate; otherwise `"unknown"` when a recipient is offline at the
  end, or when `exactly_once` duplicates exist but no event log can classify them.
"""

from __future__ import annotations

from collections import Counter
from itertools import chain
from operator import itemgetter
from typing import Any

from ._duplicates import classify_duplicates
from ._index import (
    S_DC,
    S_ID,
    S_INVOKE_TIME,
    S_OUTCOME,
    S_RECEIPT,
    S_TO,
    HistoryIndex,
    Op,
    SendRow,
    index_history,
)
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

    duplicated = index.duplicated
    misdelivered = index.misdelivered
    unexpected = index.unexpected
    online = index.online

    rows = sends.values()
    unreceived = [row for row in rows if row[S_OUTCOME] == "ok" and row[S_RECEIPT] is None]
    lost = [row for row in unreceived if row[S_TO] in online]
    unverifiable = [row[S_ID] for row in unreceived if row[S_TO] not in online]
    uncertain = [row for row, _, _ in index.deliveries if row[S_OUTCOME] != "ok"]
    recovered = [row[S_ID] for row in uncertain if row[S_OUTCOME] != "fail"]
    failed_delivered = [row[S_ID] for row in uncertain if row[S_OUTCOME] == "fail"]
    offline_at_end = {row[S_TO] for row in unreceived if row[S_TO] not in online}
    corrupted = index.corrupted
    delivered = len(index.deliveries)
    # (dc, outcome, received?) -> sends: the per-DC table and the acknowledged count, counted
    # at C speed: all sends and the received ones (each delivery is one send's first receipt)
    dc_outcome = itemgetter(S_DC, S_OUTCOME)
    every = Counter(map(dc_outcome, rows))
    received_rows = Counter(map(dc_outcome, map(itemgetter(0), index.deliveries)))
    combos = Counter({(dc, outcome, True): count
                      for (dc, outcome), count in received_rows.items()})
    for (dc, outcome), count in every.items():
        if count > received_rows[dc, outcome]:
            combos[dc, outcome, False] = count - received_rows[dc, outcome]
    acknowledged = sum(count for (_, outcome), count in every.items() if outcome == "ok")

    latencies_by_via: dict[str, list[int]] = {"online": [], "offline": []}
    for row, received, via in index.deliveries:
        via_list = latencies_by_via.get(via)
        if via_list is None:
            via_list = latencies_by_via[str(via)] = []
        via_list.append(received - row[S_INVOKE_TIME])
    for values in latencies_by_via.values():
        values.sort()  # the overall list below is then sorted runs: Timsort merges them in O(n)
    latencies = list(chain.from_iterable(latencies_by_via.values()))

    per_dc = _per_dc(combos, lost)
    exactly_once = bool(options.get("exactly_once", False))
    kinds = classify_duplicates(index, events, options) if duplicated and events is not None \
        else None
    avoidable = (set() if not duplicated else None) if kinds is None else kinds["avoidable"]
    unavoidable = (set() if not duplicated else None) if kinds is None else kinds["unavoidable"]
    valid: bool | str = not (lost or unexpected or misdelivered or corrupted or failed_delivered
                             or (exactly_once and avoidable))
    reasons = []
    if valid and offline_at_end:
        reasons.append(f"{len(offline_at_end)} recipients of unreceived acknowledged messages "
                       "offline at the end (offline_at_end): their messages could not be checked")
    if valid and exactly_once and avoidable is None:
        reasons.append("exactly_once: duplicates without events.jsonl cannot be told avoidable "
                       "or not")
    if reasons:
        valid = "unknown"
    return {
        "valid": valid,
        **({"reason": "; ".join(reasons)} if reasons else {}),
        "attempted": len(sends),
        "acknowledged": acknowledged,
        "delivered": delivered,
        "receipts": len(index.receipts),
        "lost": _sorted_ids(row[S_ID] for row in lost),
        "lost_count": len(lost),
        "recovered": _sorted_ids(recovered),
        "recovered_count": len(recovered),
        "unexpected": _sorted_ids(unexpected),
        "unexpected_count": len(unexpected),
        "misdelivered": _sorted_ids(misdelivered),
        "misdelivered_count": len(misdelivered),
        "duplicated": _sorted_ids(duplicated),
        "duplicated_count": len(duplicated),
        "duplicated_avoidable": None if avoidable is None else _sorted_ids(avoidable),
        "duplicated_avoidable_count": None if avoidable is None else len(avoidable),
        "duplicated_unavoidable": None if unavoidable is None else _sorted_ids(unavoidable),
        "duplicated_unavoidable_count": None if unavoidable is None else len(unavoidable),
        "duplicate_receipts": index.recipient_receipts - index.first_receipt_count,
        **({} if kinds is None else {"duplicated_avoidable_examples": kinds["examples"],
                                     "duplicate_bound_ms": kinds["bound_ms"],
                                     "duplicate_grace_ms": kinds["grace_ms"]}),
        "corrupted": _sorted_ids(corrupted),
        "corrupted_count": len(corrupted),
        "failed_delivered": _sorted_ids(failed_delivered),
        "failed_delivered_count": len(failed_delivered),
        "unverifiable": _sorted_ids(unverifiable),
        "unverifiable_count": len(unverifiable),
        "offline_at_end": _sorted_ids(offline_at_end),
        "offline_at_end_count": len(offline_at_end),
        "exactly_once": exactly_once,
        "per_dc": per_dc,
        "latency": {
            "overall": quantiles(latencies, NS_PER_MS),
            **{via: quantiles(values, NS_PER_MS) for via, values in latencies_by_via.items()},
        },
    }


def _per_dc(combos: Counter[tuple[Any, Any, bool]], lost: list[SendRow]) -> dict[str, Any]:
    """attempted / acknowledged / delivered / lost per sending DC (the send's `dc`)."""
    table: dict[str, dict[str, int]] = {}
    for (dc, outcome, received), count in combos.items():
        row = table.setdefault(str(dc), {"attempted": 0, "acknowledged": 0, "delivered": 0,
                                         "lost": 0})
        row["attempted"] += count
        if outcome == "ok":
            row["acknowledged"] += count
        if received:
            row["delivered"] += count
    for send in lost:
        table[str(send[S_DC])]["lost"] += 1
    return dict(sorted(table.items()))
