"""The pytest plugin's `im_explore` fixture: an `imfault explore` search inside a test.

`im_explore(nemesis=None, *, examples=100, max_faults=3, time_budget=None, fail=True,
confirm_on=None, **run_options)` searches on sim (the options as `imfault explore`'s, defaults
`EXPLORE_DEFAULTS`, store and seed from the session: `--im-store`, `--im-seed` and the test id)
and returns the `ExploreResult`; with `fail=True` an invalid run fails the test with the shrunk
schedule, the offending ids and the replay commands. Imports Hypothesis only when called.
"""

from __future__ import annotations

from typing import Any

__all__ = ["explore_in_test"]


def explore_in_test(settings: Any, seed: int, name: str, nemesis: str | list[str] | None,
                    examples: int, max_faults: int, time_budget: float | None, fail: bool,
                    overrides: dict[str, Any], confirm_on: str | None = None) -> Any:
    import pytest

    from .explore import EXPLORE_DEFAULTS, run_explore, search_options

    values: dict[str, Any] = {**EXPLORE_DEFAULTS, "store": str(settings.store), "seed": seed,
                              "name": name}
    if nemesis is not None:
        values["nemesis"] = [nemesis] if isinstance(nemesis, str) else list(nemesis)
    values.update(overrides)
    if isinstance(values.get("bug"), str):
        values["bug"] = [values["bug"]]
    options, names, defaulted = search_options(values)
    result = run_explore(options, names, defaulted, examples, max_faults, time_budget,
                         confirm_on=confirm_on)
    if result.found and fail:
        pytest.fail(result.describe(), pytrace=False)
    return result
