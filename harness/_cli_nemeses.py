"""`imfault nemeses`: list every nemesis (built-in and entry point `imfault.nemeses`) with its help."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["add_parser", "handle"]


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "nemeses", help="list the nemeses (faults) available to --nemesis",
        description="List every nemesis: the built-in catalogue and those registered by other "
                    "packages under the entry point group imfault.nemeses.")
    parser.add_argument("--json", action="store_true", help="print {name: help} as JSON")
    return parser


def handle(args: argparse.Namespace) -> int:
    from .nemesis import available_nemeses

    catalogue = available_nemeses()
    if getattr(args, "json", False):
        print(json.dumps(catalogue, indent=2))
        return 0
    width = max(len(name) for name in catalogue)
    for name, help_text in catalogue.items():
        print(f"{name:<{width}}  {help_text}")
    return 0
