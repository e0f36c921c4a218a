"""The JSON decoder of the checkers and the report: msgspec when importable, else the stdlib.

Decoding `history.jsonl` (and `events.jsonl`) is the largest single cost of checking a big run, so
this one module decides how JSON is decoded; `checkers._load` and `reports._runfiles` use it.
msgspec (a declared dependency) decodes a 1M-op history in about half the stdlib's time (numbers in
docs/checkers.md); the stdlib path remains only for an environment where msgspec cannot be imported.

The results are the stdlib's exactly: whatever msgspec rejects (a truncated or blank line, bytes that
are not UTF-8, NaN/Infinity, a lone surrogate escape, a number out of float range) sends the whole
chunk to the stdlib path, which decodes and skips exactly as before. msgspec keeps big integers as
`int`, like the stdlib (orjson would turn those beyond 64 bits into floats).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import IO, Any


def _fast_decoder() -> Callable[[bytes | str], Any] | None:
    """msgspec's decoder, or `None` when msgspec cannot be imported."""
    try:
        import msgspec
    except ImportError:
        return None
    decode: Callable[[bytes | str], Any] = msgspec.json.Decoder().decode
    return decode


_fast_decode = _fast_decoder()
BACKEND = "msgspec" if _fast_decode is not None else "json"

CHUNK_BYTES = 2 << 20  # read and decoded at once: a few MiB of whole lines


def loads(data: bytes | str) -> Any:
    """Decode one JSON document (the stdlib's result; `ValueError` when it is not JSON)."""
    if _fast_decode is not None:
        try:
            return _fast_decode(data)
        except ValueError:  # msgspec's DecodeError, or a value only the stdlib accepts
            pass
    return json.loads(data)


def decode_lines(chunk: bytes) -> tuple[list[Any], int]:
    """Decode a chunk of whole JSONL lines: (values, number of malformed lines skipped).

    Blank lines are ignored; a line that does not parse (or is not UTF-8) is skipped and counted."""
    if _fast_decode is not None:
        try:
            return [_fast_decode(line) for line in chunk.split(b"\n") if line], 0
        except ValueError:  # a blank or broken line somewhere: the stdlib path decides
            pass
    return _stdlib_decode_lines(chunk)


def _stdlib_decode_lines(chunk: bytes) -> tuple[list[Any], int]:
    """The stdlib path: the chunk's newlines become commas of one JSON array decoded by a single
    `json.loads` (the C scanner, no Python loop per line); when that fails, line by line, each
    line decoded as UTF-8 with malformed sequences replaced."""
    try:
        return list(json.loads(b"[" + chunk.strip().replace(b"\n", b",") + b"]")), 0
    except ValueError:
        pass
    decoded: list[Any] = []
    skipped = 0
    for raw in chunk.split(b"\n"):
        line = raw.decode("utf-8", errors="replace")
        if not line.strip():
            continue
        try:
            decoded.append(json.loads(line))
        except ValueError:
            skipped += 1
    return decoded, skipped


def iter_chunks(handle: IO[bytes], chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Whole lines of a binary file, a few MiB at a time (the last line may lack its newline);
    only one chunk is held at a time. Chunks that are only whitespace are not yielded."""
    carry = b""
    while True:
        block = handle.read(chunk_bytes)
        if not block:
            if carry and not carry.isspace():
                yield carry
            return
        data = carry + block if carry else block
        cut = data.rfind(b"\n") + 1  # whole lines now, the rest with the next block
        chunk, carry = data[:cut], data[cut:]
        if chunk and not chunk.isspace():  # (isspace: no copy of the chunk, as strip made)
            yield chunk
