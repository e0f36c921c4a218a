"""A synthetic store for the index tests: the invalid synthetic run (reports_synthetic_run) plus a
valid run, an unchecked one, and malformed run directories.
"""

from __future__ import annotations

import json
from pathlib import Path

from reports_synthetic_run import make_run

S = 1_000_000_000
ORDER = ["broken/20260106T000000", "bad-results/20260105T000000", "bad-test/20260104T000000",
         "unchecked/20260103T000000", "clean/20260102T000000", "synthetic/20260101T000000"]
"""The runs of `make_store`, newest first."""
VALID_RESULTS = {"valid": True,
                 "delivery": {"valid": True, "lost": [], "lost_count": 0, "duplicated_count": 2},
                 "convergence": {"valid": True, "ms": {"p50": 210.5, "p99": 480.0}}}


def add_run(store: Path, name: str, stamp: str, test: object = None, results: object = None,
            history: bool = True) -> Path:
    """A run directory with the given test.json/results.json (objects, or raw text if str)."""
    run = store / name / stamp
    run.mkdir(parents=True)
    if history:
        (run / "history.jsonl").write_text("")
    for file, content in (("test.json", test), ("results.json", results)):
        if content is not None:
            text = content if isinstance(content, str) else json.dumps(content)
            (run / file).write_text(text)
    return run


def make_store(root: Path) -> Path:
    """`<root>/store` with six runs; newest first they are: empty-stamp (no files), bad-results,
    bad-test, unchecked, clean (valid), synthetic (invalid, oldest, with report.html)."""
    invalid = make_run(root)  # store/synthetic/20260101T000000, results.json, no report yet
    store = invalid.parent.parent
    import reports

    reports.write_report(invalid)
    add_run(store, "clean", "20260102T000000",
            {"name": "clean", "backend": "sim", "system": "nats", "nemesis": ["kill"],
             "seed": 42, "start_wall_ns": 1_767_312_000 * S,
             "phases": {"main": [0, 10 * S], "recovery": [10 * S, 12_500_000_000]}},
            VALID_RESULTS)
    add_run(store, "unchecked", "20260103T000000",
            {"name": "unchecked", "backend": "local", "seed": 3, "start_wall_ns": 1_767_398_400 * S})
    add_run(store, "bad-test", "20260104T000000", "{not json", {"valid": True})
    add_run(store, "bad-results", "20260105T000000", {"name": "bad-results", "seed": 5},
            '["a", "list"]')
    (store / "broken" / "20260106T000000").mkdir(parents=True)  # crashed before any file
    (store / "notes").mkdir()  # not a run: no files, no run-like subfolder
    (store / "latest").symlink_to(invalid.relative_to(store))
    (store / "synthetic" / "latest").symlink_to(invalid.name)
    return store
