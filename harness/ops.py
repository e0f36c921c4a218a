"""Operations, Jepsen's unit of history (DESIGN §2 "Op").

An `Op` is immutable. Generators emit invocation templates (`type="invoke"`, `index=-1`); the
`HistoryWriter` stamps `index` and `time` when it records an op. Completions are built from the
invocation with `op.complete(...)`, so process, `f` and (by default) `value` carry over.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

Process = int | str
"""A client process is an `int`; the nemesis is the string `"nemesis"`."""

NEMESIS = "nemesis"
OP_TYPES = ("invoke", "ok", "fail", "info")
COMPLETION_TYPES = ("ok", "fail", "info")

_UNSET: Any = object()


@dataclass(frozen=True, slots=True, init=False)
class Op:
    """One history entry: `index`, `time` (ns since test start), `process`, `type`, `f`, `value`,
    optional `error`."""

    index: int
    time: int
    process: Process
    type: str
    f: str
    value: Any = None
    error: str | None = None

    def __init__(self, index: int, time: int, process: Process, type: str, f: str,
                 value: Any = None, error: str | None = None) -> None:
        # written out: compiled (docs/accel.md), these stores are native; dataclass's own
        # `__init__` stays interpreted code even in a compiled module
        object.__setattr__(self, "index", index)
        object.__setattr__(self, "time", time)
        object.__setattr__(self, "process", process)
        object.__setattr__(self, "type", type)
        object.__setattr__(self, "f", f)
        object.__setattr__(self, "value", value)
        object.__setattr__(self, "error", error)

    @property
    def is_invoke(self) -> bool:
        return self.type == "invoke"

    @property
    def is_nemesis(self) -> bool:
        return self.process == NEMESIS

    def complete(self, type: str, value: Any = _UNSET, error: str | None = None) -> Op:
        """The completion of this invocation (`ok`, `fail` or `info`), same process and `f`."""
        if type not in COMPLETION_TYPES:
            raise ValueError(f"not a completion type: {type!r}")
        return Op(self.index, self.time, self.process, type, self.f,
                  self.value if value is _UNSET else value, error)

    def with_(self, **changes: Any) -> Op:
        """A copy with `changes` applied (dataclasses.replace)."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"index": self.index, "time": self.time, "process": self.process,
                               "type": self.type, "f": self.f, "value": self.value}
        if self.error is not None:
            obj["error"] = self.error
        return obj

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Op:
        return cls(index=obj["index"], time=obj["time"], process=obj["process"],
                   type=obj["type"], f=obj["f"], value=obj.get("value"),
                   error=obj.get("error"))


def invocation(f: str, value: Any = None, process: Process = -1, time: int = 0) -> Op:
    """An invocation template (index -1: not yet recorded)."""
    return Op(index=-1, time=time, process=process, type="invoke", f=f, value=value)


__all__ = ["COMPLETION_TYPES", "NEMESIS", "OP_TYPES", "Op", "Process", "invocation"]
