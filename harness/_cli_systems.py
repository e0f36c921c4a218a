"""`imfault systems`: list every system under test (built-in and entry point `imfault.systems`)
with its help, the backends it runs on and its declared guarantees."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "handle"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "systems", help="list the systems under test available to --system",
        description="List every system under test: the built-in ones and those registered by "
                    "other packages under the entry point group imfault.systems.")
    parser.add_argument("--json", action="store_true",
                        help="print {name: {help, backends, guarantees}} as JSON")
    return parser


def handle(args: argparse.Namespace) -> int:
    from .systems import available_systems

    catalogue = available_systems()
    if getattr(args, "json", False):
        print(json.dumps(catalogue, indent=2))
        return 0
    width = max(len(name) for name in catalogue)
    for name, info in catalogue.items():
        backends = ", ".join(str(b) for b in info["backends"])  # type: ignore[attr-defined]
        print(f"{name:<{width}}  {info['help']}  [backends: {backends}]")
        guarantees = info["guarantees"]
        if guarantees:
            text = ", ".join(f"{k}={v}" for k, v in guarantees.items())  # type: ignore[attr-defined]
            print(f"{'':<{width}}  guarantees: {text}")
    return 0
