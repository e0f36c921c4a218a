"""Validation of history ops against the documented schema (DESIGN §2, run-directory formats).

`validate_op(obj)` lists the problems of one decoded JSON line; `validate_history(path)` checks
every line plus history-wide rules (monotone index and time, completions match an open
invocation of the same process and `f`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .ops import COMPLETION_TYPES, NEMESIS, OP_TYPES

_CLIENT_VALUE_KEYS: dict[str, tuple[str, ...]] = {
    "login": ("user", "dc"),
    "logout": ("user",),
    "send": ("id", "from", "to", "dc"),
    "recv": ("user", "id", "from", "to", "dc", "via"),
}
_FIELDS = {"index", "time", "process", "type", "f", "value", "error"}


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def validate_op(obj: Any) -> list[str]:
    """Problems with one op object (empty list: valid)."""
    if not isinstance(obj, dict):
        return ["op is not a JSON object"]
    problems = []
    for name in ("index", "time", "process", "type", "f"):
        if name not in obj:
            problems.append(f"missing field {name!r}")
    extra = set(obj) - _FIELDS
    if extra:
        problems.append(f"unknown fields {sorted(extra)}")
    if problems:
        return problems
    if not _is_int(obj["index"]) or obj["index"] < 0:
        problems.append("index must be a non-negative int")
    if not _is_int(obj["time"]) or obj["time"] < 0:
        problems.append("time must be non-negative int ns")
    process, type_, f = obj["process"], obj["type"], obj["f"]
    if not (_is_int(process) and process >= 0) and process != NEMESIS:
        problems.append(f"process must be a non-negative int or 'nemesis', not {process!r}")
    if type_ not in OP_TYPES:
        problems.append(f"type must be one of {OP_TYPES}, not {type_!r}")
    if not isinstance(f, str) or not f:
        problems.append("f must be a non-empty string")
    if "error" in obj and not isinstance(obj["error"], str):
        problems.append("error must be a string")
    if problems:
        return problems
    value = obj.get("value")
    if process == NEMESIS:
        if type_ not in ("invoke", "info"):
            problems.append("nemesis ops are invoke then info")
        if (f == "start-partition" and type_ == "info"
                and not (isinstance(value, dict) and isinstance(value.get("grudge"), dict))):
                problems.append("a start-partition completion needs value.grudge")
        return problems
    keys = _CLIENT_VALUE_KEYS.get(f)
    if keys is None:
        return [f"unknown client f {f!r}"]
    if not isinstance(value, dict):
        return [f"{f} value must be an object"]
    missing = [k for k in keys if k not in value]
    if missing:
        problems.append(f"{f} value lacks {missing}")
    if f == "recv" and type_ != "ok":
        problems.append("recv ops are single ok ops")
    if f == "recv" and value.get("via") not in ("online", "offline"):
        problems.append("recv via must be 'online' or 'offline'")
    if f == "login" and type_ == "ok":
        for k in ("node", "conn"):
            if k not in value:
                problems.append(f"login ok value lacks {k!r}")
    return problems


def validate_history(path: str | Path) -> list[str]:
    """Problems of a whole `history.jsonl` ("line N: ..."); empty when valid."""
    problems: list[str] = []
    last_index, last_time = -1, -1
    open_invocations: dict[Any, str] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                problems.append(f"line {lineno}: not JSON ({exc.msg})")
                continue
            errs = validate_op(obj)
            problems.extend(f"line {lineno}: {e}" for e in errs)
            if errs:
                continue
            if obj["index"] <= last_index:
                problems.append(f"line {lineno}: index not increasing")
            if obj["time"] < last_time:
                problems.append(f"line {lineno}: time goes backwards")
            last_index, last_time = obj["index"], obj["time"]
            process, type_, f = obj["process"], obj["type"], obj["f"]
            if f == "recv":
                continue
            if type_ == "invoke":
                if process in open_invocations:
                    problems.append(f"line {lineno}: process {process} invokes while busy")
                open_invocations[process] = f
            elif type_ in COMPLETION_TYPES:
                if open_invocations.get(process) != f:
                    problems.append(f"line {lineno}: {type_} {f} of process {process} "
                                    "without a matching invocation")
                open_invocations.pop(process, None)
    return problems


__all__ = ["validate_history", "validate_op"]
