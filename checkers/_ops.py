"""Compact records of history ops for the checkers' one pass, and the history they come from.

Decoding a million JSON lines into dicts (two per op, with their own key and value strings) was
the largest cost of checking a big run. The index pass reads only a few fields of each op, so
`history.jsonl` is decoded by msgspec straight into `Record` structs (time, process, type, f and
the value fields the checkers read); the full op dicts are decoded again only for the few ops
that need them (nemesis ops, duplicate receipts, the report's trails and sessions), from the
line's bytes, which `OpLog` keeps. `OpLog` is the loaded history: a read-only sequence of op
dicts, equal to the list `load_run` used to return, each op decoded when it is read.

Without msgspec (the stdlib fallback of `checkers._json`), records are small Python objects with
the same attributes, built from the dicts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from . import _json

Op = dict[str, Any]

try:
    import msgspec
except ImportError:  # the stdlib fallback: same attributes, built in Python
    msgspec = None  # type: ignore[assignment]

if msgspec is not None:
    UNSET: Any = msgspec.UNSET

    class Value(msgspec.Struct, gc=False):
        """The fields of an op's value the index reads (`dc` is `UNSET` when absent)."""

        user: Any = None
        id: Any = None
        from_: Any = msgspec.field(default=None, name="from")
        to: Any = None
        dc: Any = UNSET
        via: Any = None
        node: Any = None
        conn: Any = None

    class Record(msgspec.Struct, gc=False):
        """The fields of an op the index reads; a value that is not an object is kept as is."""

        time: Any = None
        process: Any = None
        type: Any = None
        f: Any = None
        value: Value | list[Any] | str | int | float | bool | None = None

    _decode_record = msgspec.json.Decoder(Record).decode

    def records_of(ops: Sequence[Any]) -> list[Any]:
        """Records of op dicts (`ValueError` if one is not an op dict the record can hold)."""
        try:
            return msgspec.convert(ops, list[Record])  # type: ignore[no-any-return]
        except msgspec.ValidationError as error:
            raise ValueError(str(error)) from None

else:
    UNSET = object()

    class Value:  # type: ignore[no-redef]
        """`Value` without msgspec."""

        __slots__ = ("conn", "dc", "from_", "id", "node", "to", "user", "via")

        def __init__(self, value: dict[str, Any]) -> None:
            get = value.get
            self.user, self.id, self.from_, self.to = get("user"), get("id"), get("from"), \
                get("to")
            self.dc, self.via, self.node, self.conn = get("dc", UNSET), get("via"), \
                get("node"), get("conn")

    class Record:  # type: ignore[no-redef]
        """`Record` without msgspec."""

        __slots__ = ("f", "process", "time", "type", "value")

        def __init__(self, op: dict[str, Any]) -> None:
            get = op.get
            self.time, self.process, self.type, self.f = get("time"), get("process"), \
                get("type"), get("f")
            value = get("value")
            self.value = Value(value) if isinstance(value, dict) else value

    _decode_record = None

    def records_of(ops: Sequence[Any]) -> list[Any]:
        """Records of op dicts (`ValueError` if one is not a dict)."""
        if not all(isinstance(op, dict) for op in ops):
            raise ValueError("an op is not an object")
        return [Record(op) for op in ops]


class OpLog(Sequence[Op]):
    """A loaded history: op dicts read on demand from the lines kept, and their records.

    `items[i]` is op i's line (bytes, decoded when read) or its dict (ops of a chunk that needed
    the stdlib's decoder); `records[i]` its `Record`, or `records` is `None` when some op could
    not be held by one (the index then works from the dicts). Compares equal to the list of its
    ops. `clear` and `reverse` exist for `release_run`."""

    def __init__(self, items: list[bytes | Op], records: list[Any] | None) -> None:
        self.items = items
        self.records = records

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, position: Any) -> Any:
        if isinstance(position, slice):
            return [_op_of(item) for item in self.items[position]]
        return _op_of(self.items[position])

    def __iter__(self) -> Iterator[Op]:
        return map(_op_of, self.items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, OpLog):
            other = list(other)
        return isinstance(other, list) and list(self) == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"OpLog({len(self.items)} ops)"

    def clear(self) -> None:
        self.items.clear()
        if self.records is not None:
            self.records.clear()

    def reverse(self) -> None:
        self.items.reverse()
        if self.records is not None:
            self.records.reverse()


def _op_of(item: bytes | Op) -> Op:
    return _json.loads(item) if item.__class__ is bytes else item  # type: ignore[return-value]


def decode_oplog(chunks: Iterator[bytes]) -> tuple[OpLog, int]:
    """The history of JSONL `chunks` (whole lines): (its `OpLog`, lines skipped).

    Lines of a chunk that all decode as records are kept as bytes beside their records; a chunk
    with a line that does not (not JSON, not an object, a value only the stdlib reads) is decoded
    as before (`_json.decode_lines`), its unparsable lines skipped and values that are not
    objects dropped, both counted."""
    items: list[bytes | Op] = []
    records: list[Any] | None = []
    skipped = 0
    for chunk in chunks:
        lines = chunk.split(b"\n")
        if not lines[-1]:  # the chunk's final newline
            lines.pop()
        if b"" in lines:  # blank lines (rare; the test is a C-level scan)
            lines = [line for line in lines if line]
        if _decode_record is not None:
            try:
                decoded = list(map(_decode_record, lines))
            except ValueError:  # msgspec's DecodeError and ValidationError are ValueErrors
                pass
            else:
                items.extend(lines)
                if records is not None:
                    records.extend(decoded)
                continue
        values, bad = _json.decode_lines(chunk)
        ops = [value for value in values if isinstance(value, dict)]
        skipped += bad + len(values) - len(ops)
        items.extend(ops)
        if records is not None:
            try:
                records.extend(records_of(ops))
            except ValueError:
                records = None
    return OpLog(items, records), skipped
