"""NDJSON framing (one JSON object a line) and validation of frames (DESIGN §1): client frames,
and the fields of the messages and entries nodes exchange (one place for what a valid field is).

Sans-IO: bytes in, frames out. The asyncio drivers and the in-memory driver both use it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeGuard

MAX_CLIENT_FRAME = 65536
MAX_PEER_FRAME = 4 * 1024 * 1024
MAX_NAME = 256

Frame = dict[str, Any]


class WireError(Exception):
    """A frame that cannot be accepted; `code` is the stable error code sent to the peer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def to_frame(self) -> Frame:
        return {"type": "error", "code": self.code, "message": self.message}


@dataclass(frozen=True)
class FrameTooLarge:
    """A line longer than the decoder's limit (its bytes were discarded up to the next newline)."""

    limit: int


def compact_encoder(*, ascii_only: bool = False, sort_keys: bool = False) -> Callable[[Any], str]:
    """`json.dumps(obj, separators=(",", ":"), ensure_ascii=ascii_only, sort_keys=sort_keys)`,
    the same text, with its C encoder built once instead of on every call (a third of the cost
    of a small object). No circular-reference bookkeeping: frames and entries are trees. An
    interpreter without the C encoder gets `JSONEncoder.encode`."""
    options = json.JSONEncoder(separators=(",", ":"), ensure_ascii=ascii_only, sort_keys=sort_keys)
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return options.encode
    quote = json.encoder.encode_basestring_ascii if ascii_only else json.encoder.encode_basestring  # type: ignore[attr-defined]
    iterencode = make(None, options.default, quote, None, ":", ",", sort_keys, False, True)
    return lambda obj: "".join(iterencode(obj, 0))


dumps_compact = compact_encoder()
"""Compact JSON text, non-ASCII kept (what every frame carries)."""


def encode(frame: Frame) -> bytes:
    """Compact JSON of `frame` followed by a newline."""
    return dumps_compact(frame).encode("utf-8") + b"\n"


class LineDecoder:
    """Splits a byte stream into lines (without the newline), whatever the chunking.

    A line longer than `max_len` bytes yields one `FrameTooLarge` and is skipped up to its newline,
    without ever buffering more than `max_len` bytes.
    """

    def __init__(self, max_len: int = MAX_CLIENT_FRAME) -> None:
        self.max_len = max_len
        self._buffer = bytearray()
        self._skipping = False

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes | FrameTooLarge]:
        out: list[bytes | FrameTooLarge] = []
        start = 0
        while start < len(data):
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            if self._skipping:
                if newline >= 0:
                    self._skipping = False
            else:
                self._buffer += data[start:end]
                if len(self._buffer) > self.max_len:
                    self._buffer.clear()
                    out.append(FrameTooLarge(self.max_len))
                    self._skipping = newline < 0
                elif newline >= 0:
                    out.append(bytes(self._buffer))
                    self._buffer.clear()
            if newline < 0:
                break
            start = newline + 1
        return out


def parse_frame(line: bytes) -> Frame:
    """Decode one line into a frame (a JSON object with a string `type`)."""
    if line.endswith(b"\r"):
        line = line[:-1]
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError("bad_frame", "frame is not valid UTF-8") from None
    try:
        frame = json.loads(text)
    except (ValueError, RecursionError):
        raise WireError("bad_frame", "frame is not valid JSON") from None
    if not isinstance(frame, dict):
        raise WireError("bad_frame", "frame is not a JSON object")
    if "type" not in frame:
        raise WireError("missing_field", "frame has no 'type'")
    if not isinstance(frame["type"], str):
        raise WireError("bad_field", "'type' must be a string")
    return frame


# field kinds: "name" = non-empty string of at most MAX_NAME chars; "text" = any string
CLIENT_FRAMES: dict[str, tuple[tuple[str, str], ...]] = {
    "login": (("user", "name"), ("token", "name")),
    "send": (("id", "name"), ("to", "name"), ("body", "text")),
    "ack": (("id", "name"),),
    "logout": (),
    "ping": (),
}
# a message as hubs carry it (route, forward, msg entries): the client's fields plus the sender
MSG_FIELDS: tuple[tuple[str, str], ...] = (("id", "name"), ("from", "name"), ("to", "name"),
                                           ("body", "text"))
MAX_INT = 2**63 - 1  # what SQLite stores in an INTEGER column


def _is_encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_field(name: str, value: object, field_kind: str = "name") -> str:
    """A string field as every frame needs it: UTF-8 encodable and, for a "name", 1..MAX_NAME
    characters; raises `WireError(bad_field)` otherwise. Client, access-node and peer frames all
    go through here."""
    if not isinstance(value, str):
        raise WireError("bad_field", f"'{name}' must be a string")
    if not _is_encodable(value):
        raise WireError("bad_field", f"'{name}' holds an unpaired surrogate")
    if field_kind == "name" and not 0 < len(value) <= MAX_NAME:
        raise WireError("bad_field", f"'{name}' must have 1..{MAX_NAME} characters")
    return value


def is_name(value: object) -> TypeGuard[str]:
    """True for a valid "name" field (see `check_field`)."""
    try:
        check_field("", value)
    except WireError:
        return False
    return True


def check_int(name: str, value: object, low: int = 0, high: int = MAX_INT) -> int:
    """An integer (not a bool) within [low, high]; raises `WireError(bad_field)` otherwise."""
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise WireError("bad_field", f"'{name}' must be an integer in {low}..{high}")
    return value


def validate_msg(msg: object) -> dict[str, Any]:
    """A message as route/forward frames and msg entries carry it, normalised to exactly its
    fields (`sent_at` defaults to 0); raises `WireError` on anything else."""
    if not isinstance(msg, dict):
        raise WireError("bad_field", "'msg' must be an object")
    out: dict[str, Any] = {}
    for name, field_kind in MSG_FIELDS:
        if name not in msg:
            raise WireError("missing_field", f"message needs '{name}'")
        out[name] = check_field(name, msg[name], field_kind)
    sent_at = msg.get("sent_at", 0)
    if isinstance(sent_at, float) and math.isfinite(sent_at) and abs(sent_at) <= MAX_INT:
        out["sent_at"] = sent_at
    else:
        out["sent_at"] = check_int("sent_at", sent_at, -MAX_INT)
    return out


def validate_client_frame(frame: Frame) -> Frame:
    """Check a parsed client frame against DESIGN §1; returns it, or raises `WireError`."""
    kind = frame.get("type")
    if not isinstance(kind, str):
        raise WireError("missing_field", "frame has no 'type'")
    fields = CLIENT_FRAMES.get(kind)
    if fields is None:
        raise WireError("unknown_type", f"unknown frame type {kind[:64]!r}")
    for name, field_kind in fields:
        if name not in frame:
            raise WireError("missing_field", f"{kind} needs '{name}'")
        check_field(name, frame[name], field_kind)
    return frame


__all__ = [
    "CLIENT_FRAMES",
    "MAX_CLIENT_FRAME",
    "MAX_INT",
    "MAX_NAME",
    "MAX_PEER_FRAME",
    "MSG_FIELDS",
    "FrameTooLarge",
    "LineDecoder",
    "WireError",
    "check_field",
    "check_int",
    "encode",
    "is_name",
    "parse_frame",
    "validate_client_frame",
    "validate_msg",
]
