"""Exceptions shared by the harness, mapped to `imfault` exit codes (DESIGN §2).

`UsageError` -> exit 2 (bad options or names), `SetupError` -> exit 4 (an infrastructure problem:
a missing binary, a node that does not come up, ...). Messages say what to do about it.
"""

from __future__ import annotations

__all__ = ["SetupError", "UsageError"]


class SetupError(Exception):
    """The infrastructure could not be set up; the message says what to do. CLI exit code 4."""


class UsageError(Exception):
    """The user asked for something invalid (unknown option value, name, ...). CLI exit code 2."""
