"""The runs of a store, read cheaply: one `RunRow` per run directory from its `test.json` and
`results.json` only (never the history), for the static index, `imfault serve` and the Markdown
summary.

A run directory is `<store>/<name>/<stamp>/` (or a run directly under the store). A directory that
looks like a run but whose files are missing or malformed is still listed, with `problem` saying
what is wrong; nothing here raises on a bad run directory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._verdict import (
    PROBLEM_KINDS,
    checker_names,
    format_number,
    overall_verdict,
    problem_count,
    verdict_of,
)

RUN_MARKERS = ("history.jsonl", "test.json", "results.json")
DEFAULT_SYSTEM = "imcluster"
"""The system under test of a run whose test.json does not name one (runs before `--system`)."""
_STAMP_RE = re.compile(r"^\d{8}T\d{6}(-\d+)?$")


@dataclass
class RunRow:
    """One run directory of a store, as the index shows it."""

    path: Path
    relative: str                 # POSIX path relative to the store
    verdict: str                  # valid, invalid or unknown
    started_ns: int
    name: str = ""
    backend: str = ""
    system: str = DEFAULT_SYSTEM
    nemeses: list[str] = field(default_factory=list)
    bugs: list[str] = field(default_factory=list)
    seed: Any = None
    duration_s: float | None = None
    lost: int | None = None
    duplicated: int | None = None
    convergence_p50_ms: float | None = None
    convergence_p99_ms: float | None = None
    findings: str = ""
    problem: str = ""             # why the run could not be read fully ("" when fine)
    checked: bool = False         # has a readable results.json
    has_report: bool = False

    @property
    def convergence_text(self) -> str:
        """`p50 / p99` in ms, or — when the convergence checker gave neither."""
        if self.convergence_p50_ms is None and self.convergence_p99_ms is None:
            return "—"
        p50, p99 = self.convergence_p50_ms, self.convergence_p99_ms
        return f"{format_number(p50)} / {format_number(p99)}"


def _load(path: Path) -> tuple[Any, str]:
    """(parsed JSON or None, problem text or "")."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, f"{path.name}: {exc.strerror or exc}"
    try:
        return json.loads(raw), ""
    except json.JSONDecodeError as exc:
        return None, f"{path.name} is not valid JSON (line {exc.lineno}, column {exc.colno})"
    except ValueError:
        return None, f"{path.name} is not UTF-8 JSON"


def _findings(results: dict[str, Any] | None) -> str:
    """A one-line digest of what went wrong: the invalid checkers and the delivery counts."""
    if not results:
        return "not checked (no results.json)"
    invalid = [name for name in checker_names(results)
               if verdict_of(results[name].get("valid")) == "invalid"]
    delivery = results.get("delivery")
    counts = [f"{kind} {problem_count(delivery, kind)}" for kind in PROBLEM_KINDS
              if problem_count(delivery, kind)]
    if not invalid:
        return ", ".join(counts)
    return ", ".join(invalid) + (f" ({', '.join(counts)})" if counts else "")


def _started_ns(path: Path, test: dict[str, Any]) -> int:
    if isinstance(test.get("start_wall_ns"), int):
        return int(test["start_wall_ns"])
    try:
        stamp = dt.datetime.strptime(path.name[:15], "%Y%m%dT%H%M%S").replace(tzinfo=dt.UTC)
        return int(stamp.timestamp()) * 1_000_000_000
    except ValueError:
        try:
            return path.stat().st_mtime_ns
        except OSError:
            return 0


def _duration_s(test: dict[str, Any]) -> float | None:
    """From the phases the runner records: the end of the last one (ns since start)."""
    phases = test.get("phases")
    if not isinstance(phases, dict):
        return None
    ends = [span[1] for span in phases.values() if isinstance(span, list) and len(span) == 2
            and isinstance(span[1], (int, float))]
    return max(ends) / 1e9 if ends else None


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [v for v in value.split(",") if v]
    if isinstance(value, list):  # names, or objects with a name
        return [str(v.get("name", v)) if isinstance(v, dict) else str(v) for v in value]
    return []


def _number(container: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(container, dict):
            return None
        container = container.get(key)
    return container if isinstance(container, (int, float)) and not isinstance(container, bool) \
        else None


def read_run(path: Path, store: Path) -> RunRow:
    """The row of one run directory; never raises for bad files (see `problem`)."""
    problems = []
    test, problem = _load(path / "test.json")
    if problem:
        problems.append(problem)
    if test is not None and not isinstance(test, dict):
        problems.append("test.json is not a JSON object")
        test = None
    results, problem = _load(path / "results.json")
    if problem:
        problems.append(problem)
    if results is not None and not isinstance(results, dict):
        problems.append("results.json is not a JSON object")
        results = None
    test = test or {}
    if not test and not problems and not (path / "history.jsonl").is_file():
        problems.append("no test.json, history.jsonl or results.json")
    try:
        relative = path.relative_to(store).as_posix()
    except ValueError:
        relative = path.as_posix()
    delivery = (results or {}).get("delivery")
    row = RunRow(
        path=path, relative=relative, verdict=overall_verdict(results),
        started_ns=_started_ns(path, test),
        name=str(test.get("name") or (path.parent.name if path.parent != store else path.name)),
        backend=str(test.get("backend", "")), system=str(test.get("system") or DEFAULT_SYSTEM),
        nemeses=_names(test.get("nemesis")), bugs=_names(test.get("bug")),
        seed=test.get("seed"), duration_s=_duration_s(test),
        findings=_findings(results), problem="; ".join(problems), checked=results is not None,
        has_report=(path / "report.html").is_file(),
    )
    if isinstance(delivery, dict):
        row.lost = problem_count(delivery, "lost")
        row.duplicated = problem_count(delivery, "duplicated")
    convergence = (results or {}).get("convergence")
    row.convergence_p50_ms = _number(convergence, "ms", "p50")
    row.convergence_p99_ms = _number(convergence, "ms", "p99")
    return row


def _is_run(path: Path) -> bool:
    return any(os.path.isfile(path / marker) for marker in RUN_MARKERS)


def _dirs(path: Path) -> list[Path]:
    try:
        return sorted(p for p in path.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return []


def run_dirs(store: Path) -> list[Path]:
    """Run directories one or two levels under `store` (symlinks such as `latest` skipped); a
    `<name>/<YYYYmmddTHHMMSS>` directory counts even without its files (a run that broke early)."""
    found: list[Path] = []
    for first in _dirs(Path(store)):
        if _is_run(first):
            found.append(first)
            continue
        found += [second for second in _dirs(first)
                  if _is_run(second) or _STAMP_RE.match(second.name)]
    return found


def scan_store(store: Path) -> list[RunRow]:
    """Every run of the store, newest first."""
    store = Path(store)
    rows = [read_run(path, store) for path in run_dirs(store)]
    rows.sort(key=lambda row: (row.started_ns, row.relative), reverse=True)
    return rows


__all__ = ["DEFAULT_SYSTEM", "RUN_MARKERS", "RunRow", "read_run", "run_dirs", "scan_store"]
