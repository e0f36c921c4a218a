"""`--backend sim`: the same test in one process, in seeded virtual time (DESIGN §2 "Backends").

`SimBackend` (the cluster and its simulated WAN, offering the local backend's fault methods),
`SimClients` (the simulated users), `SimInterpreter` and `run_sim_test` (the runner's phases in
virtual time). See docs/architecture.md "The sim backend" for what it models and what it refuses.
"""

from imcluster import _accel

_accel.activate(__path__, "harness/sim")  # the compiled driver when built (docs/accel.md)

from ._backend import SimBackend, SimCluster, SimWan
from ._clients import SimClients
from ._driver import SimInterpreter, run_sim_test

__all__ = ["SimBackend", "SimClients", "SimCluster", "SimInterpreter", "SimWan", "run_sim_test"]
