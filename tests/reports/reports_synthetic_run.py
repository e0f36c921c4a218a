"""A synthetic run directory for the report tests: 3 DCs, a partition and a kill, one lost message,
one duplicated, one misdelivered, one unexpected (whose id is an HTML injection attempt).

Results come from `checkers.check_run` when the checkers package provides it, else from a
hand-written dict with the DESIGN §3 fields (the same answers).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

S = 1_000_000_000
MS = 1_000_000
DCS = ["dc1", "dc2", "dc3"]
USERS = [f"u{i}" for i in range(1, 7)]  # home DC round robin: u1 dc1, u2 dc2, u3 dc3, u4 dc1, ...
LOST_ID = "m-lost"
DUPLICATED_ID = "m-dup"
MISDELIVERED_ID = "m-mis"
EVIL_ID = '<script>alert("x")</script>&</svg>'
EVIL_NEMESIS = '</title><script>alert(1)</script>'


def home(user: str) -> str:
    return DCS[(int(user[1:]) - 1) % len(DCS)]


class _History:
    def __init__(self) -> None:
        self.ops: list[dict[str, Any]] = []

    def add(self, time: int, process: Any, type_: str, f: str, value: Any, **extra: Any) -> None:
        op = {"index": len(self.ops), "time": time, "process": process, "type": type_, "f": f,
              "value": value}
        op.update(extra)
        self.ops.append(op)


def build_history(seed: int = 7, normal_sends: int = 40) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    h = _History()
    for i, user in enumerate(USERS):
        h.add(10 * MS * i, i, "invoke", "login", {"user": user, "dc": home(user)})
        h.add(10 * MS * i + 5 * MS, i, "ok", "login",
              {"user": user, "dc": home(user), "node": f"{home(user)}-a1", "conn": f"c{i}"})
    # nemesis: partition dc3 away 4s..9s, kill dc2-hub 12s..13s
    grudge = {"dc3": ["dc1", "dc2"], "dc1": ["dc3"], "dc2": ["dc3"]}
    h.add(4 * S, "nemesis", "invoke", "start-partition", {"shape": "partition-one",
                                                         "grudge": grudge})
    h.add(4 * S + 2 * MS, "nemesis", "info", "start-partition", {"shape": "partition-one",
                                                                "grudge": grudge})
    timed: list[tuple[int, Any, str, str, Any]] = []
    for n in range(normal_sends):
        sender = USERS[n % len(USERS)]
        recipient = USERS[(n + 1 + rng.randrange(len(USERS) - 1)) % len(USERS)]
        t = S + n * 350 * MS
        value = {"id": f"m{n:03d}", "from": sender, "to": recipient, "dc": home(sender)}
        latency = rng.randrange(150, 450) * MS
        if 4 * S <= t <= 9 * S and "dc3" in (home(sender), home(recipient)):
            latency += 9 * S - t  # held back by the partition, delivered after it healed
        timed.append((t, sender, "invoke", "send", value))
        timed.append((t + 3 * MS, sender, "ok", "send", value))
        recv = {"user": recipient, "id": value["id"], "from": sender, "to": recipient,
                "dc": home(recipient), "via": "online" if latency < S else "offline"}
        timed.append((t + latency, recipient, "ok", "recv", recv))
    # the lost one: u1 (dc1) -> u3 (dc3) during the partition, acknowledged, never received
    lost = {"id": LOST_ID, "from": "u1", "to": "u3", "dc": "dc1"}
    timed += [(5 * S, "u1", "invoke", "send", lost), (5 * S + 4 * MS, "u1", "ok", "send", lost)]
    dup = {"id": DUPLICATED_ID, "from": "u2", "to": "u4", "dc": "dc2"}
    dup_recv = {"user": "u4", "id": DUPLICATED_ID, "from": "u2", "to": "u4", "dc": "dc1",
                "via": "online"}
    timed += [(11 * S, "u2", "invoke", "send", dup), (11 * S + 3 * MS, "u2", "ok", "send", dup),
              (11 * S + 250 * MS, "u4", "ok", "recv", dup_recv),
              (13 * S + 500 * MS, "u4", "ok", "recv", {**dup_recv, "via": "offline"})]
    mis = {"id": MISDELIVERED_ID, "from": "u5", "to": "u6", "dc": "dc2"}
    timed += [(14 * S, "u5", "invoke", "send", mis), (14 * S + 3 * MS, "u5", "ok", "send", mis),
              (14 * S + 300 * MS, "u1", "ok", "recv",
               {"user": "u1", "id": MISDELIVERED_ID, "from": "u5", "to": "u6", "dc": "dc1",
                "via": "online"}),
              (14 * S + 320 * MS, "u6", "ok", "recv",
               {"user": "u6", "id": MISDELIVERED_ID, "from": "u5", "to": "u6", "dc": "dc3",
                "via": "online"})]
    timed.append((15 * S, "u2", "ok", "recv", {"user": "u2", "id": EVIL_ID, "from": "u9",
                                                "to": "u2", "dc": "dc2", "via": "online"}))
    timed += [(9 * S, "nemesis", "invoke", "stop-partition", {"shape": "partition-one"}),
              (9 * S + 2 * MS, "nemesis", "info", "stop-partition", {"shape": "partition-one"}),
              (12 * S, "nemesis", "invoke", "kill", {"node": "dc2-hub", "note": EVIL_NEMESIS}),
              (12 * S + 5 * MS, "nemesis", "info", "kill", {"node": "dc2-hub"}),
              (13 * S, "nemesis", "invoke", "start", {"node": "dc2-hub"}),
              (13 * S + 80 * MS, "nemesis", "info", "start", {"node": "dc2-hub"})]
    timed.sort(key=lambda item: item[0])
    for time, who, type_, f, value in timed:
        process = "nemesis" if who == "nemesis" else USERS.index(who)
        h.add(time, process, type_, f, value)
    return h.ops


def build_events(seed: int = 7, dots: int = 60) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for seq in range(1, dots + 1):
        origin = DCS[seq % 3]
        t0 = seq * 200 * MS
        events.append({"time": t0, "dc": origin, "node": f"{origin}-hub", "event": "originate",
                       "kind": "coord", "key": f"u{seq % 6 + 1}", "origin": origin, "seq": seq})
        for dc in DCS:
            if dc != origin:
                events.append({"time": t0 + rng.randrange(200, 700) * MS, "dc": dc,
                               "node": f"{dc}-hub", "event": "apply", "kind": "coord",
                               "key": f"u{seq % 6 + 1}", "origin": origin, "seq": seq})
    events.append({"time": 5 * S + 3 * MS, "dc": "dc1", "node": "dc1-hub", "event": "originate",
                   "kind": "msg", "key": LOST_ID, "origin": "dc1", "seq": 1000})
    events.append({"time": 5 * S + 300 * MS, "dc": "dc2", "node": "dc2-hub", "event": "apply",
                   "kind": "msg", "key": LOST_ID, "origin": "dc1", "seq": 1000})
    events.sort(key=lambda e: e["time"])
    return events


def options_json(run_dir: Path) -> dict[str, Any]:
    return {
        "dcs": 3, "access_per_dc": 1, "users": 6, "rate": 3, "time_limit": 16,
        "nemesis": ["partition-one", "kill"], "nemesis_interval": 5, "wan_latency": 200,
        "wan_jitter": 0, "gossip_interval": 100, "gossip": "push+anti-entropy",
        "partition_style": "blackhole", "delivery": "durable", "bug": ["gateway-drop"],
        "roam": 0.1, "locality": 0.7, "recovery_timeout": 60, "seed": 7,
        "store": str(run_dir.parent.parent), "name": "synthetic", "exactly_once": True,
        "backend": "local", "dc_names": DCS, "versions": {"imfault": "0.1.0"},
        "command": "imfault run --dcs 3 --nemesis partition-one,kill --bug gateway-drop "
                   "--exactly-once --seed 7 --name synthetic",
        "start_wall_ns": 1_767_225_600 * S,  # 2026-01-01T00:00:00Z, the directory name
        "phases": {"main": [0, 16 * S], "heal": [16 * S, 16 * S + 100 * MS],
                   "recovery": [16 * S + 100 * MS, 19 * S]},
    }


def final_json() -> dict[str, Any]:
    hubs = {}
    for dc in DCS:
        hubs[dc] = {"node": f"{dc}-hub", "vv": {"dc1": 20, "dc2": 20, "dc3": 20},
                    "coords": {u: {"dc": home(u), "node": f"{home(u)}-a1",
                                   "conn": f"c{USERS.index(u)}", "online": True} for u in USERS},
                    "counters": {"wan_frames_sent": 300}, "pending": 0}
    return {"time": 19 * S, "hubs": hubs, "converged": True}


def hand_results() -> dict[str, Any]:
    """What the checkers should answer for the synthetic run (DESIGN §3 fields)."""
    delivery = {
        "valid": False, "attempted": 43, "acknowledged": 43, "delivered": 42,
        "lost": [LOST_ID], "lost_count": 1, "recovered": [], "recovered_count": 0,
        "unexpected": [EVIL_ID], "unexpected_count": 1, "misdelivered": [MISDELIVERED_ID],
        "misdelivered_count": 1, "duplicated": [DUPLICATED_ID], "duplicated_count": 1,
        "latency": {"overall": {"count": 42, "p50": 300.0, "p95": 4000.0, "p99": 4900.0,
                                "max": 5000.0}},
    }
    convergence = {"valid": False, "dots": 61, "converged": 60, "unconverged": ["dc1:1000"],
                   "unconverged_count": 1, "ms": {"p50": 500.0, "p99": 700.0},
                   "rounds": {"p50": 5.0, "p99": 7.0}, "theory_rounds": 2.68}
    return {
        "valid": False, "delivery": delivery, "convergence": convergence,
        "routing": {"valid": True, "checked": 18, "wrong": [], "wrong_count": 0},
        "ordering": {"valid": True, "pairs": 20, "out_of_order": 0, "examples": []},
        "availability": {"valid": "unknown", "reason": "no option bound given"},
        "stats": {"valid": True}, "perf": {"valid": True},
    }


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")


def make_run(root: Path, partial: bool = False, with_results: bool = True) -> Path:
    """Create `<root>/store/synthetic/20260101T000000/` and return it."""
    run_dir = root / "store" / "synthetic" / "20260101T000000"
    run_dir.mkdir(parents=True)
    write_jsonl(run_dir / "history.jsonl", build_history())
    if partial:
        with (run_dir / "history.jsonl").open("a") as handle:
            handle.write('{"index": 99999, "time": 1')  # the crash cut the last line
        return run_dir
    (run_dir / "test.json").write_text(json.dumps(options_json(run_dir)))
    write_jsonl(run_dir / "events.jsonl", build_events())
    (run_dir / "final.json").write_text(json.dumps(final_json()))
    if with_results:
        (run_dir / "results.json").write_text(json.dumps(results_for(run_dir)))
    return run_dir


def results_for(run_dir: Path) -> dict[str, Any]:
    try:
        import checkers

        check_run = checkers.check_run
    except (ImportError, AttributeError):
        return hand_results()
    return dict(check_run(run_dir))
