"""Replicated state of the cluster: entries (dots), version vectors and merge.

Pure: no IO, no clock, no randomness. See docs/architecture.md "Replicated state".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

KINDS = ("coord", "msg", "tomb")


@dataclass(frozen=True)
class Entry:
    """One update, identified by its dot `(origin, seq)`."""

    kind: str
    key: str
    origin: str
    seq: int
    hlc: tuple[int, int]
    data: Mapping[str, Any]

    @property
    def dot(self) -> tuple[str, int]:
        return (self.origin, self.seq)

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "key": self.key, "origin": self.origin, "seq": self.seq,
                "hlc": [self.hlc[0], self.hlc[1]], "data": dict(self.data)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> "Entry":
        """Parse an entry received from a peer; raises ValueError on any malformed field."""
        try:
            kind, key, origin, seq = obj["kind"], obj["key"], obj["origin"], obj["seq"]
            wall, logical = obj["hlc"]
            data = obj.get("data", {})
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed entry: {exc!r}") from None
        if (kind not in KINDS or not isinstance(key, str) or not isinstance(origin, str)
                or not isinstance(seq, int) or isinstance(seq, bool) or seq < 1
                or not isinstance(wall, int) or not isinstance(logical, int)
                or not isinstance(data, dict)):
            raise ValueError("malformed entry")
        return cls(kind, key, origin, seq, (wall, logical), data)
