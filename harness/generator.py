"""Public surface of the generators (the implementation lives in `harness.generators`).

Pure, composable, time as an argument: `phases`, `mix`, `stagger`, `time_limit`, `once`, `cycle`,
`sleep`, `on_clients`/`on_nemesis` routing, `each_process`, plus `simulate` (virtual time).
Nemesis schedules are generators too, e.g.
`cycle([sleep(interval), once({"f": "start-partition"}), sleep(interval),
once({"f": "stop-partition"})])`.
"""

from .generators import *
from .generators import __all__  # noqa: F401
