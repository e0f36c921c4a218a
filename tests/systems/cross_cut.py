"""What a partition did to cross-DC delivery, read from a run directory's history."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def cross_cut_receipts(run_dir: Path) -> dict[str, Any]:
    """For each partition (start-partition completed .. stop-partition invoked): the messages
    sent in it whose recipient received them in a DC that could not hear from the sender's DC
    (`sent`), and those of them received before the heal (`early`: the cut did not hold)."""
    ops = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    windows = []
    for op in ops:
        if op["process"] == "nemesis" and op["f"] == "start-partition" and op["type"] == "info":
            windows.append([op["time"], None, op["value"]["grudge"]])
        if op["process"] == "nemesis" and op["f"] == "stop-partition" and op["type"] == "invoke":
            for window in windows:
                if window[1] is None:
                    window[1] = op["time"]
    sends = {op["value"]["id"]: op for op in ops if op["f"] == "send" and op["type"] == "invoke"}
    sent, early = set(), set()
    for op in ops:
        if op["f"] != "recv" or op["value"]["user"] != op["value"]["to"]:
            continue
        send = sends.get(op["value"]["id"])
        if send is None:
            continue
        for start, end, grudge in windows:
            cut = send["value"]["dc"] in grudge.get(op["value"]["dc"], [])
            if cut and end is not None and start <= send["time"] < end:
                sent.add(send["value"]["id"])
                if op["time"] < end:
                    early.add(send["value"]["id"])
    return {"windows": len(windows), "sent": sorted(sent), "early": sorted(early)}
