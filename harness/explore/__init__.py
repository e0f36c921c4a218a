"""Search and campaigns on the sim backend: `imfault explore` (Hypothesis over fault schedules
and workload shapes, shrinking a failure to its minimum) and `imfault campaign` (a nemesis x bug
matrix over many seeds). See docs/exploring.md. Hypothesis is imported when a search starts."""

from ._api import EXPLORE_DEFAULTS, run_explore, search_options
from ._confirm import CONFIRM_BACKENDS, Confirmation
from ._faults import BUG_FAULTS, BugFaults, catalogue_nemeses
from ._search import ExploreResult, ExploreState, reason_of, replay_commands

__all__ = ["BUG_FAULTS", "CONFIRM_BACKENDS", "EXPLORE_DEFAULTS", "BugFaults", "Confirmation",
           "ExploreResult", "ExploreState", "catalogue_nemeses", "reason_of", "replay_commands",
           "run_explore", "search_options"]
