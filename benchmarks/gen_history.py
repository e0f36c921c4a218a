"""Generate a large synthetic run directory (seeded) to benchmark the checkers.

The history looks like a real IM run: users log in to their home DC, send messages (invoke, then
`ok` mostly, sometimes `fail` or `info`), recipients receive them (`recv`, online or offline, a few
duplicates, a few never), some users roam (logout, login elsewhere), and a partition nemesis starts
and stops every few seconds. `events.jsonl` (one originate and N-1 applies per message dot) and
`final.json` are written too when asked.

    python benchmarks/gen_history.py RUN_DIR [--ops 1000000] [--seed 1] [--events]
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
from pathlib import Path
from typing import Any

MS = 1_000_000


def generate_run(
    run_dir: Path,
    ops: int = 1_000_000,
    seed: int = 1,
    dcs: int = 5,
    users: int = 200,
    with_events: bool = False,
) -> dict[str, Any]:
    """Write `history.jsonl`, `test.json`, `final.json` (and `events.jsonl`) into `run_dir`.

    Returns counts and, under `expected`, the ids the delivery checker must report as `lost`,
    `recovered` and `duplicated` (sorted).
    """
    rng = random.Random(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    dc_names = [f"dc{i + 1}" for i in range(dcs)]
    user_names = [f"u{i}" for i in range(users)]
    home = {u: dc_names[i % dcs] for i, u in enumerate(user_names)}
    where = dict(home)
    conn_of = {u: f"{home[u]}-a1:{i}" for i, u in enumerate(user_names)}
    pending: list[tuple[int, int, dict[str, Any]]] = []
    tiebreak = 0
    written = 0
    index = 0
    now = 0
    seq = {dc: 0 for dc in dc_names}
    events: list[tuple[int, str, str, str, int]] = []
    messages = 0
    expected: dict[str, list[str]] = {"lost": [], "recovered": [], "duplicated": []}

    hist = (run_dir / "history.jsonl").open("w", encoding="utf-8")

    def emit(op: dict[str, Any]) -> None:
        nonlocal index, written
        op["index"] = index
        index += 1
        written += 1
        hist.write(json.dumps(op, separators=(",", ":")) + "\n")

    def later(at: int, op: dict[str, Any]) -> None:
        nonlocal tiebreak
        tiebreak += 1
        heapq.heappush(pending, (at, tiebreak, op))

    def flush_until(t: int) -> None:
        while pending and pending[0][0] <= t:
            at, _, op = heapq.heappop(pending)
            op["time"] = at
            emit(op)

    for proc, user in enumerate(user_names):
        value: dict[str, Any] = {"user": user, "dc": home[user]}
        emit({"time": now, "process": proc, "type": "invoke", "f": "login", "value": value})
        now += MS
        done = dict(value, node=f"{home[user]}-a1", conn=f"{home[user]}-a1:{proc}")
        emit({"time": now, "process": proc, "type": "ok", "f": "login", "value": done})

    partitioned = False
    next_nemesis = 5_000 * MS
    while written < ops:
        now += rng.randint(1, 4) * MS // 2
        flush_until(now)
        if now >= next_nemesis:
            next_nemesis += 5_000 * MS
            f = "stop-partition" if partitioned else "start-partition"
            value = {}
            if not partitioned:
                cut = rng.choice(dc_names)
                value = {"grudge": {cut: [d for d in dc_names if d != cut]}}
            emit({"time": now, "process": "nemesis", "type": "invoke", "f": f, "value": value})
            emit({"time": now + MS, "process": "nemesis", "type": "info", "f": f, "value": value})
            partitioned = not partitioned
            continue
        proc = rng.randrange(users)
        sender = user_names[proc]
        if rng.random() < 0.002:
            target = rng.choice([d for d in dc_names if d != where[sender]])
            bye = {"user": sender}
            emit({"time": now, "process": proc, "type": "invoke", "f": "logout", "value": bye})
            emit({"time": now + MS, "process": proc, "type": "ok", "f": "logout", "value": bye})
            value = {"user": sender, "dc": target}
            emit({"time": now + 2 * MS, "process": proc, "type": "invoke", "f": "login",
                  "value": value})
            done = dict(value, node=f"{target}-a1", conn=f"{target}-a1:{index}")
            conn_of[sender] = done["conn"]
            emit({"time": now + 3 * MS, "process": proc, "type": "ok", "f": "login", "value": done})
            where[sender] = target
            continue
        recipient = rng.choice(user_names)
        messages += 1
        msg_id = f"m{messages}"
        dc = where[sender]
        value = {"id": msg_id, "from": sender, "to": recipient, "dc": dc}
        emit({"time": now, "process": proc, "type": "invoke", "f": "send", "value": value})
        roll = rng.random()
        outcome = "ok" if roll < 0.97 else ("fail" if roll < 0.985 else "info")
        completion: dict[str, Any] = {"process": proc, "type": outcome, "f": "send", "value": value}
        if outcome == "info":
            completion["error"] = "timeout"
        later(now + rng.randint(2, 30) * MS, completion)
        if outcome == "fail":
            continue
        if rng.random() < 0.001:  # a defect: acknowledged (or not) and never delivered
            if outcome == "ok":
                expected["lost"].append(msg_id)
            continue
        if outcome == "info":
            expected["recovered"].append(msg_id)
        seq[dc] += 1
        if with_events:
            events.append((now + MS, dc, "originate", dc, seq[dc]))
            for other in dc_names:
                if other != dc:
                    events.append((now + rng.randint(200, 900) * MS, other, "apply", dc, seq[dc]))
        via = "online" if rng.random() < 0.9 else "offline"
        receipt = {"user": recipient, "id": msg_id, "from": sender, "to": recipient,
                   "dc": where[recipient], "via": via}
        delay = rng.randint(5, 400) * MS
        later(now + delay, {"process": user_names.index(recipient), "type": "ok", "f": "recv",
                            "value": receipt})
        if rng.random() < 0.005:
            expected["duplicated"].append(msg_id)
            later(now + delay + 50 * MS, {"process": user_names.index(recipient), "type": "ok",
                                          "f": "recv", "value": dict(receipt)})
    flush_until(now + 10**15)
    hist.close()

    test = {"dcs": dcs, "dc_names": dc_names, "users": users, "gossip_interval": 100,
            "wan_latency": 200, "seed": seed, "exactly_once": False,
            "phases": {"main": [0, now], "heal": [now, now], "recovery": [now, now]}}
    (run_dir / "test.json").write_text(json.dumps(test), encoding="utf-8")
    hubs = {dc: {"node": f"{dc}-hub", "vv": dict(seq), "pending": 0,
                 "counters": {"wan_frames_sent": sum(seq.values()) * 2},
                 "coords": {u: {"dc": where[u], "node": f"{where[u]}-a1", "conn": conn_of[u],
                                "online": True} for u in user_names}}
            for dc in dc_names}
    (run_dir / "final.json").write_text(json.dumps({"time": now, "hubs": hubs, "converged": True}),
                                        encoding="utf-8")
    if with_events:
        events.sort()
        with (run_dir / "events.jsonl").open("w", encoding="utf-8") as out:
            for t, dc, kind, origin, s in events:
                out.write(json.dumps({"time": t, "dc": dc, "node": f"{dc}-hub", "event": kind,
                                      "kind": "msg", "key": f"m{s}", "origin": origin, "seq": s},
                                     separators=(",", ":")) + "\n")
    return {"ops": written, "messages": messages, "events": len(events),
            "expected": {name: sorted(ids) for name, ids in expected.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--ops", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", action="store_true")
    args = parser.parse_args()
    summary = generate_run(args.run_dir, ops=args.ops, seed=args.seed, with_events=args.events)
    expected = summary.pop("expected")
    print({**summary, **{f"{name}_count": len(ids) for name, ids in expected.items()}})


if __name__ == "__main__":
    main()
