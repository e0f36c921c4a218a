"""`imfault explore --confirm-on BACKEND`: replay the shrunk schedule on a real backend.

A failure found on sim is a failure of the system under test or of the sim's model of it (the sim
WAN once kept a bandwidth cap's delays after the WAN was restored: invalid on sim, valid on
`local`). Replaying the minimal schedule on `local`, `docker` or `swarm` tells them apart; the
outcome (`Confirmation`) is printed, kept in the search's `explore.json`, and leaves the exit code
alone (the search found what it found; a CI job reads `confirmation.reproduced`). A replay that
cannot run there (a nemesis that backend cannot inject, Toxiproxy missing) is reported as not run,
with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .._options import BACKENDS
from ..errors import SetupError, UsageError
from ..store import write_json
from ._search import ExploreResult, reason_of, verdict_of

__all__ = ["CONFIRM_BACKENDS", "Confirmation", "check_confirm_backend", "confirm"]

CONFIRM_BACKENDS = tuple(b for b in BACKENDS if b != "sim")
"""Where a schedule found on sim can be confirmed: every real backend."""


@dataclass(frozen=True)
class Confirmation:
    """The replay of a shrunk schedule on `backend`: `verdict` True/False/"unknown", or None when
    it could not run (`error` says why)."""

    backend: str
    verdict: bool | str | None
    reason: str = ""
    run_dir: Path | None = None
    error: str = ""

    @property
    def reproduced(self) -> bool:
        return self.verdict is False

    def to_json(self) -> dict[str, Any]:
        return {"backend": self.backend, "verdict": self.verdict, "reproduced": self.reproduced,
                "reason": self.reason, "run_dir": str(self.run_dir) if self.run_dir else None,
                "error": self.error}

    def describe(self, sim_reason: str) -> str:
        if self.verdict is None:
            return f"not confirmed on {self.backend}: the replay could not run ({self.error})"
        where = f"run directory: {self.run_dir}"
        if self.reproduced and self.reason == sim_reason:
            return f"confirmed on {self.backend}: INVALID ({self.reason}), as on sim; {where}"
        if self.reproduced:
            return (f"confirmed on {self.backend}: INVALID, but for another reason "
                    f"({self.reason}; sim: {sim_reason}); {where}")
        verdict = "valid" if self.verdict is True else str(self.verdict)
        return (f"not reproduced on {self.backend}: {verdict}; a timing-dependent failure, or one "
                f"of the sim's model alone (docs/exploring.md, \"Confirming on a real "
                f"backend\"); {where}")


def check_confirm_backend(backend: str) -> None:
    """A usage error for anything but a real backend (checked before the search starts)."""
    if backend not in CONFIRM_BACKENDS:
        raise UsageError(f"--confirm-on takes a real backend ({', '.join(CONFIRM_BACKENDS)}), "
                         f"not {backend!r}: the search itself runs on sim")


def confirm(result: ExploreResult, backend: str,
            say: Callable[[str], None] = lambda message: None) -> Confirmation:
    """Replay `result`'s minimal schedule on `backend` (real time: the main phase, then the
    recovery), record the outcome in `result` and its `explore.json`, and return it."""
    from ..runner import run_test

    check_confirm_backend(backend)
    if result.options is None or result.run_dir is None:
        raise ValueError("nothing to confirm: the search found no invalid run")
    options = replace(result.options, backend=backend,
                      name=f"{result.options.test_name()}-on-{backend}")
    say(f"explore: replaying the minimal schedule on {backend} (about "
        f"{options.time_limit + options.recovery_timeout:g} s at most, real time)")
    try:
        outcome = run_test(options, say=say)
    except (UsageError, SetupError) as exc:
        confirmation = Confirmation(backend, None, error=str(exc))
    else:
        verdict = verdict_of(outcome.results)
        reason = reason_of(outcome.results) if verdict is False else ""
        confirmation = Confirmation(backend, verdict, reason, outcome.run_dir)
    result.confirmation = confirmation
    write_json(result.run_dir / "explore.json", result.summary())
    return confirmation
