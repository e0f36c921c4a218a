"""Which duplicate deliveries the system could have avoided (the `--exactly-once` judgement).

At-least-once delivery re-offers a message until a delivery mark (a `tomb` dot, key = message id)
reaches the DC that offers it, so a recipient who roams to another DC inside a tomb's propagation
window, or across a partition, gets the message again through no fault of the system. A duplicate
(a receipt by the recipient after its first one) is **avoidable** when, with no nemesis fault
active in between (a cut or a paused node can hold a tomb or an offer back),
- the re-offering DC (the receipt's `dc`) held the tomb (its `originate` or first `apply` in
  `events.jsonl`) more than `LOCAL_GRACE_MS` before the receipt (the grace covers an offer already on
  its way from the hub to the client when the tomb arrived), or
- the tomb had ample time to arrive over a healthy WAN: the receipt came more than
  `tomb_bound_ms(options)` = max(2000, 5 x (wan_latency + wan_jitter + gossip_interval)) ms after
  the tomb's `originate` (or, when no originate was logged, after the recipient's first receipt,
  provided the recipient was logged in then, no logout invoked since its last login: the client
  acks every delivery on receipt, so the ack reached its access node; a tomb that is never
  gossiped is caught here. A receipt during a logout is acked after the logout frame, and that
  ack is rightly dropped).

Any other duplicate is **unavoidable**. An id received twice but never sent is avoidable (it should
not have been delivered at all). Without `events.jsonl` duplicates cannot be classified.
"""

from __future__ import annotations

from bisect import bisect_right
from typing import Any

from ._index import S_ID, S_RECEIPT, S_TO, HistoryIndex, Op
from ._nemesis import ActivePeriods, fault_ops_of, nemesis_intervals
from ._util import NS_PER_MS, ns_to_ms

LOCAL_GRACE_MS = 500
# DESIGN's defaults, for histories whose options lack them
_DEFAULTS_MS = {"wan_latency": 200.0, "wan_jitter": 0.0, "gossip_interval": 100.0}
MAX_EXAMPLES = 20


def tomb_bound_ms(options: dict[str, Any]) -> float:
    """How long a tomb may take to reach every DC over a healthy WAN, in ms (see the docstring)."""
    def option(name: str) -> float:
        value = options.get(name)
        return float(value) if isinstance(value, (int, float)) else _DEFAULTS_MS[name]

    return max(2000.0, 5 * (option("wan_latency") + option("wan_jitter")
                            + option("gossip_interval")))


def _tomb_times(events: list[Op], wanted: set[Any]) -> tuple[dict[Any, int], dict[Any, int]]:
    """For the wanted message ids: id -> first tomb originate; (id, dc) -> first time held."""
    originated: dict[Any, int] = {}
    held: dict[Any, int] = {}
    try:  # the usual case at C speed; a malformed line sends the scan down the careful path
        tombs = [event for event in events if event["kind"] == "tomb"]
    except (KeyError, TypeError):
        tombs = [event for event in events
                 if isinstance(event, dict) and event.get("kind") == "tomb"]
    for event in tombs:
        key = event.get("key")
        time = event.get("time")
        if not isinstance(time, (int, float)) or not isinstance(key, str) or key not in wanted:
            continue
        where = (key, event.get("dc"))
        if held.get(where, time) >= time:
            held[where] = int(time)
        if event.get("event") == "originate" and originated.get(key, time) >= time:
            originated[key] = int(time)
    return originated, held


def classify_duplicates(
    index: HistoryIndex, events: list[Op], options: dict[str, Any]
) -> dict[str, Any]:
    """`{avoidable: [ids], unavoidable: [ids], examples: [...], bound_ms, grace_ms}`."""
    bound_ms = tomb_bound_ms(options)
    bound, grace = bound_ms * NS_PER_MS, LOCAL_GRACE_MS * NS_PER_MS
    duplicated = index.duplicated
    originated, held = _tomb_times(events, {i for i in duplicated if isinstance(i, str)})
    faults = ActivePeriods(nemesis_intervals(index.nemesis_ops, index.last_time,
                                             fault_ops_of(options)))
    sends = index.sends
    avoidable: set[Any] = set()
    examples: list[dict[str, Any]] = []
    for op in index.extra_receipts:
        value = op["value"]
        msg_id = value.get("id")
        row = sends.get(msg_id)
        if row is None or row[S_RECEIPT] is None:
            avoidable.add(msg_id)  # never sent: it should not have arrived even once
            continue
        received = op["time"]
        dc = value.get("dc")
        tomb = originated.get(msg_id)
        if tomb is None and _logged_in(index, row[S_TO], row[S_RECEIPT]):
            tomb = row[S_RECEIPT]
        since = held.get((msg_id, dc))
        rule = None
        if since is not None and received - since > grace and not faults.any_between(since,
                                                                                     received):
            rule = "tomb held by the re-offering DC"
        elif tomb is not None and received - tomb > bound and not faults.any_between(tomb,
                                                                                     received):
            rule = "tomb had ample time to arrive"
        if rule is None:
            continue
        if row[S_ID] not in avoidable and len(examples) < MAX_EXAMPLES:
            examples.append({"id": msg_id, "dc": dc, "time_ms": ns_to_ms(received),
                             "tomb_ms": None if tomb is None else ns_to_ms(tomb),
                             "tomb_logged": msg_id in originated,
                             "held_since_ms": None if since is None else ns_to_ms(since),
                             "rule": rule})
        avoidable.add(msg_id)
    return {"avoidable": avoidable, "unavoidable": duplicated - avoidable, "examples": examples,
            "bound_ms": bound_ms, "grace_ms": LOCAL_GRACE_MS}


def _logged_in(index: HistoryIndex, user: Any, time: int) -> bool:
    """Whether `user`'s latest login ok / logout invocation at or before `time` is a login."""
    marks = index.session_marks.get(user, [])
    position = bisect_right(marks, (time, True)) - 1
    return position >= 0 and marks[position][1]
