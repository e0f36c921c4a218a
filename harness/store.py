"""The store of runs: `<store>/<name>/<YYYYmmddTHHMMSS>/` with `latest` symlinks (DESIGN §2).

`create_run_dir` makes the directory (suffixing `-1`, `-2`... if two runs start in the same
second) and points `<store>/<name>/latest` and `<store>/latest` at it; `write_test_json` writes the
options file; `write_json` writes any JSON file atomically.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

DEFAULT_STORE = "store"


def _point_latest(link: Path, target: Path) -> None:
    tmp = link.with_name(f".latest.{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(target, link.parent), tmp)
    os.replace(tmp, link)


def create_run_dir(store: str | Path, name: str, wall_time: float | None = None) -> Path:
    """Create the run directory and update both `latest` links; returns its path."""
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(time.time() if wall_time is None
                                                          else wall_time))
    base = Path(store) / name
    base.mkdir(parents=True, exist_ok=True)
    run_dir = base / stamp
    n = 0
    while True:
        try:
            run_dir.mkdir()
            break
        except FileExistsError:
            n += 1
            run_dir = base / f"{stamp}-{n}"
    (run_dir / "logs").mkdir()
    _point_latest(base / "latest", run_dir)
    _point_latest(Path(store) / "latest", run_dir)
    return run_dir


def write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented JSON, atomically (temp file + rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n",
                   encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def runs(store: str | Path) -> list[Path]:
    """Every run directory of a store (those with a `test.json` or `history.jsonl`), sorted."""
    root = Path(store)
    if not root.is_dir():
        return []
    found = []
    for name_dir in root.iterdir():
        if not name_dir.is_dir() or name_dir.is_symlink():
            continue
        for run_dir in name_dir.iterdir():
            if run_dir.is_dir() and not run_dir.is_symlink() and (
                    (run_dir / "test.json").exists() or (run_dir / "history.jsonl").exists()):
                found.append(run_dir)
    return sorted(found)


__all__ = ["DEFAULT_STORE", "create_run_dir", "read_json", "runs", "write_json"]
