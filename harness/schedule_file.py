"""Fault schedules as data: every run's `schedule.json`, and `imfault run --schedule FILE`.

`schedule.json` holds the nemesis names, the main-phase ops as drawn (`{at_s, f, value}`, `at_s`
from the start of the main phase, cut at `time_limit`), the heal-phase ops, and the workload's
seed and shape. Both drivers (`harness.runner` for local/docker, `harness.sim` for sim) call
`plan_nemesis` right after the nemesis's setup: it draws (or, with `--schedule`, loads) the ops
once, writes `schedule.json`, and returns a `RecordedNemesis` that plays exactly those ops.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import UsageError
from .nemesis import Nemesis, NemesisContext, Schedule, ScheduledOp, get_nemesis
from .nemesis._compose import WrappingNemesis
from .store import write_json

__all__ = ["SCHEDULE_FORMAT", "WORKLOAD_FIELDS", "RecordedNemesis", "apply_schedule_file",
           "load_schedule", "plan_nemesis", "schedule_document"]

SCHEDULE_FORMAT = 1
WORKLOAD_FIELDS = ("seed", "dcs", "access_per_dc", "users", "rate", "roam", "locality",
                   "time_limit", "nemesis_interval", "recovery_timeout")
"""The run options a schedule records and a replay takes over (the workload's seed and shape)."""


class RecordedNemesis(WrappingNemesis):
    """`inner` driven by fixed ops: `schedule`/`final_schedule` return them (and so its
    generators play them); setup, invoke, teardown and fault ops are the inner nemesis's."""

    def __init__(self, inner: Nemesis, main: list[ScheduledOp], final: list[ScheduledOp]
                 ) -> None:
        super().__init__(inner)
        self.main_ops = main
        self.final_ops = final

    def schedule(self, ctx: NemesisContext, offset_s: float = 0.0) -> Schedule:
        return Schedule.of(self.main_ops)

    def final_schedule(self, ctx: NemesisContext) -> Schedule:
        return Schedule.of(self.final_ops)


def _ops_json(ops: list[ScheduledOp]) -> list[dict[str, Any]]:
    return [{"at_s": op.at_s, "f": op.f, "value": dict(op.value)} for op in ops]


def plan_nemesis(nemesis: Nemesis, ctx: NemesisContext, options: Any, run_dir: Path
                 ) -> RecordedNemesis:
    """Draw the run's nemesis ops once (or load them from `options.schedule`), write
    `run_dir/schedule.json`, and return the nemesis that plays them. The schedule is drawn
    even when replaying, so the context's rng is where it would be (apply may draw from it)."""
    main = nemesis.schedule(ctx).until(options.time_limit)
    final = list(nemesis.final_schedule(ctx))
    if options.schedule:
        recorded = load_schedule(options.schedule)
        if list(recorded["nemesis"]) != list(options.nemesis):
            raise UsageError(f"--schedule {options.schedule} is for nemesis "
                             f"{','.join(recorded['nemesis']) or 'none'}, not "
                             f"{','.join(options.nemesis) or 'none'}")
        main, final = _ops(recorded["ops"]), _ops(recorded["final_ops"])
    write_json(run_dir / "schedule.json", schedule_document(options, main, final))
    return RecordedNemesis(nemesis, main, final)


def schedule_document(options: Any, main: list[ScheduledOp], final: list[ScheduledOp]
                      ) -> dict[str, Any]:
    """The `schedule.json` of a run with `options` (its nemeses and workload) and these ops."""
    return {
        "format": SCHEDULE_FORMAT,
        "nemesis": list(options.nemesis),
        "workload": {name: getattr(options, name) for name in WORKLOAD_FIELDS},
        "ops": _ops_json(main),
        "final_ops": _ops_json(final),
    }


def _ops(raw: list[dict[str, Any]]) -> list[ScheduledOp]:
    return [ScheduledOp(float(op["at_s"]), str(op["f"]), dict(op["value"])) for op in raw]


def load_schedule(path: str | Path) -> dict[str, Any]:
    """Read and check a `schedule.json`; `UsageError` saying what is wrong (exit 2)."""
    where = f"--schedule {path}"
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{where}: cannot read it ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise UsageError(f"{where}: not JSON ({exc})") from exc

    def need(cond: bool, message: str) -> None:
        if not cond:
            raise UsageError(f"{where}: {message}")

    need(isinstance(document, dict), "must be a JSON object (a run's schedule.json)")
    need(document.get("format") == SCHEDULE_FORMAT,
         f"unknown format {document.get('format')!r} (expected {SCHEDULE_FORMAT})")
    names = document.get("nemesis")
    need(isinstance(names, list) and all(isinstance(n, str) and n for n in names),
         "'nemesis' must be a list of nemesis names")
    workload = document.get("workload")
    need(isinstance(workload, dict), "'workload' must be an object")
    missing = [name for name in WORKLOAD_FIELDS if name not in workload]
    need(not missing, f"'workload' lacks {', '.join(missing)}")
    try:
        nemesis = get_nemesis(names)
    except UsageError as exc:
        raise UsageError(f"{where}: {exc}") from exc
    for key in ("ops", "final_ops"):
        ops = document.get(key)
        need(isinstance(ops, list), f"{key!r} must be a list of {{at_s, f, value}}")
        last = 0.0
        for i, op in enumerate(ops):
            need(isinstance(op, dict) and set(op) == {"at_s", "f", "value"},
                 f"{key}[{i}] must be an object with exactly at_s, f and value")
            at_s = op["at_s"]
            need(isinstance(at_s, (int, float)) and not isinstance(at_s, bool)
                 and math.isfinite(at_s) and at_s >= last,
                 f"{key}[{i}].at_s must be a number >= 0, in time order")
            need(op["f"] in nemesis.fs,
                 f"{key}[{i}].f {op['f']!r} is not an op of nemesis "
                 f"{','.join(names) or 'noop'} ({', '.join(sorted(nemesis.fs)) or 'none'})")
            need(isinstance(op["value"], dict), f"{key}[{i}].value must be an object")
            last = float(at_s)
    return dict(document)


def apply_schedule_file(values: Mapping[str, Any], path: str) -> dict[str, Any]:
    """The run option values with the schedule's nemeses, seed and workload shape (they win
    over the command line's), `schedule` made absolute. `UsageError` for a bad file."""
    document = load_schedule(path)
    merged = dict(values)
    merged.update({name: document["workload"][name] for name in WORKLOAD_FIELDS})
    merged["nemesis"] = list(document["nemesis"])
    merged["schedule"] = str(Path(path).resolve())
    return merged
