"""End to end on a generated run: loader and every checker on a seeded 30,000-op history."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from checkers import check_run

GENERATOR = Path(__file__).resolve().parents[2] / "benchmarks" / "gen_history.py"


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_history", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_defects_are_found_exactly(tmp_path: Path) -> None:
    summary = load_generator().generate_run(tmp_path, ops=30_000, seed=7, with_events=True)
    expected = summary["expected"]
    assert expected["lost"] or expected["duplicated"]  # the seed must exercise something
    results = check_run(tmp_path)
    delivery = results["delivery"]
    assert delivery["lost"] == expected["lost"]
    assert delivery["recovered"] == expected["recovered"]
    assert delivery["duplicated"] == expected["duplicated"]
    assert delivery["unexpected"] == [] and delivery["misdelivered"] == []
    assert delivery["attempted"] == summary["messages"]
    assert results["valid"] is (not expected["lost"])
    assert results["routing"]["valid"] is True
    assert results["convergence"]["valid"] is True
    assert results["stats"]["ops"] == summary["ops"]
    json.dumps(results)


def test_exactly_once_judges_only_duplicates_the_event_log_can_classify(tmp_path: Path) -> None:
    generator = load_generator()
    summary = generator.generate_run(tmp_path / "bare", ops=30_000, seed=7)
    duplicated = summary["expected"]["duplicated"]
    assert duplicated and summary["expected"]["lost"]
    delivery = check_run(tmp_path / "bare", {"exactly_once": True})["delivery"]
    assert delivery["exactly_once"] is True and delivery["duplicated"] == duplicated
    assert delivery["duplicated_avoidable"] is None  # no events.jsonl: not classifiable
    assert delivery["valid"] is False  # lost messages decide anyway
    generator.generate_run(tmp_path / "events", ops=30_000, seed=7, with_events=True)
    delivery = check_run(tmp_path / "events", {"exactly_once": True})["delivery"]
    # each generated duplicate arrives 50 ms after the first receipt: within any tomb's reach
    assert delivery["duplicated_unavoidable"] == delivery["duplicated"]
    assert delivery["duplicated_avoidable"] == []
