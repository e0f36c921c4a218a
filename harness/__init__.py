"""imfault's harness: ops, history, generators, workload, nemeses, WAN, backends, runner, CLI.

The package itself stays import-light: importing `harness` pulls in no Docker, rich, Hypothesis
or Toxiproxy client. Submodules are imported where they are needed.
"""

from __future__ import annotations

from imcluster import _accel

_accel.activate(__path__, "harness")  # the compiled history and ops when built (docs/accel.md)

from .errors import SetupError, UsageError

__all__ = ["SetupError", "UsageError"]
