"""The optional compiled build of the sim's hot modules (mypyc), and which build is in use.

Pure Python is the reference and the fallback. `scripts/build-accel` (`python -m
imcluster._accel`) compiles `COMPILED` with mypyc into `build/accel/` (git-ignored) and writes
`build/accel/manifest.json` last, with the SHA-256 of every source the build depends on. On
import, `imcluster` and `harness.sim` put the compiled modules ahead of the sources
(`activate`) only if that manifest exists, matches this interpreter and every source is
unchanged; otherwise they run pure Python and `status()` says why. `IMFAULT_ACCEL=0` forces pure
Python; `IMFAULT_ACCEL=1` makes an unusable build an error instead of a silent fallback. Node
processes (`python -m imcluster`, which face the wire) always run pure Python (`node_process`).
Outputs are byte-identical either way (tests/sim/test_sim_accel.py). See docs/accel.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

try:  # compiled, a class so marked may be subclassed by interpreted classes (docs/accel.md)
    from mypy_extensions import mypyc_attr
except ImportError:  # pragma: no cover - pure Python without mypy installed: a no-op
    def mypyc_attr(*_args: object, **_flags: object) -> Callable[[type], type]:  # type: ignore[misc]
        return lambda cls: cls

ROOT = Path(__file__).resolve().parents[1]
BUILD_DIR = ROOT / "build" / "accel"
MANIFEST = BUILD_DIR / "manifest.json"
ENV = "IMFAULT_ACCEL"
COMPILED = ("harness/_workload_gen.py", "harness/generators/_combinators.py",
            "harness/generators/_core.py", "harness/generators/_rng.py", "harness/history.py",
            "harness/ops.py", "harness/sim/_clients.py", "harness/sim/_cluster.py",
            "harness/sim/_driver.py", "imcluster/_access.py", "imcluster/_clientcore.py",
            "imcluster/_events.py", "imcluster/_hlc.py", "imcluster/_hub.py",
            "imcluster/_inflight.py", "imcluster/_memnet.py", "imcluster/_offers.py",
            "imcluster/_state.py", "imcluster/_wire.py")
"""Compiled modules (sorted: `in_use` lists them so). Left out: `harness/sim/_backend` (mypyc
1.19 cannot write the signature of `SimWan.degrade`, keyword-only arguments beside `**kwargs`:
ValueError 'non-default argument follows default argument'; its hot `SimCluster` lives in
`_cluster` for that reason), and the IO modules of the real backends (`harness.workload`'s
`UserClients`, whose pure part `_workload_gen` is compiled, the runner, the nemeses)."""
DEPENDS = ("imcluster", "harness", "harness/generators", "harness/sim")
"""Every source in these folders (not their subfolders) is hashed: compiled code is specialised
to the classes it imports, so a change to any of them makes the build stale."""


def _sources() -> list[Path]:
    return sorted(p for folder in DEPENDS for p in (ROOT / folder).glob("*.py")
                  if p.name != "_accel.py")  # the loader itself is not compiled


def node_process(argv: list[str]) -> bool:
    """True for an imcluster node (`python -m imcluster ...`): nodes read frames from sockets,
    and compiled code checks annotations that the cores' validation of hostile input does not
    honour (a digest's `None` seq where `ReplicaState.answer_for` declares `int`: a TypeError
    instead of the pure code's tolerance), so they always run the pure reference."""
    return any(arg == "-m" and argv[i + 1:i + 2] == ["imcluster"] for i, arg in enumerate(argv))


def source_digests() -> dict[str, str]:
    return {p.relative_to(ROOT).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in _sources()}


@cache
def status() -> tuple[bool, str]:
    """(use the compiled build, why): decided once per process."""
    wanted = os.environ.get(ENV, "").strip().lower()
    if node_process(sys.orig_argv):
        return False, "pure Python (an imcluster node process: the compiled build is the sim's)"
    if wanted in ("0", "no", "off", "false", "pure"):
        return False, f"pure Python ({ENV}={wanted})"
    usable, why = _check()
    if not usable and wanted in ("1", "yes", "on", "true"):
        raise RuntimeError(f"{ENV}={wanted} but the compiled build is unusable: {why}")
    return usable, why


def _check() -> tuple[bool, str]:
    if not MANIFEST.is_file():
        return False, "pure Python (no compiled build: scripts/build-accel makes one)"
    try:
        manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
        tag, digests = manifest["cache_tag"], manifest["sources"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return False, f"pure Python (unreadable {MANIFEST}: {exc})"
    if tag != sys.implementation.cache_tag:
        return False, f"pure Python (compiled for {tag}, running {sys.implementation.cache_tag})"
    changed = sorted(set(digests.items()) ^ set(source_digests().items()))
    if changed:
        return False, (f"pure Python (compiled build stale: {changed[0][0]} changed since; "
                       "run scripts/build-accel)")
    return True, f"compiled (mypyc: {len(manifest.get('modules', []))} modules, {BUILD_DIR})"


def activate(package_path: list[str], package_dir: str) -> None:
    """Put the compiled modules of `package_dir` (e.g. "imcluster") ahead of its sources."""
    if not status()[0]:
        return
    compiled = BUILD_DIR / package_dir
    if str(compiled) not in package_path:
        package_path.insert(0, str(compiled))
    if str(BUILD_DIR) not in sys.path:
        sys.path.append(str(BUILD_DIR))  # the shared library the compiled modules import


def in_use() -> dict[str, object]:
    """Which build runs (for `imfault run -v` and test.json): the decision, and the modules
    actually loaded from compiled code."""
    usable, why = status()
    loaded = sorted(name for name, module in list(sys.modules.items())
                    if name.startswith(("imcluster.", "harness."))
                    and str(getattr(module, "__file__", "")).endswith(".so"))
    return {"build": "compiled" if usable else "pure", "why": why, "compiled_modules": loaded}


def build() -> int:
    """Compile `COMPILED` into `BUILD_DIR`; the manifest is written only if all succeeded."""
    import shutil
    import subprocess
    for path in (BUILD_DIR, ROOT / "build" / "accel-tmp"):
        shutil.rmtree(path, ignore_errors=True)
    digests = source_digests()  # before compiling: a source edited meanwhile reads as stale
    setup = ("import sys\n"
             "from setuptools import setup\n"
             "from mypyc.build import mypycify\n"
             "setup(name='imfault-accel', script_args=['build_ext', '--build-lib', sys.argv[1],"
             " '--build-temp', sys.argv[2], '--parallel', '2'],\n"
             "      ext_modules=mypycify(sys.argv[4:], opt_level='3', group_name='imfault_accel',"
             " target_dir=sys.argv[3]))\n")
    tmp = ROOT / "build" / "accel-tmp"
    done = subprocess.run([sys.executable, "-c", setup, str(BUILD_DIR), str(tmp / "obj"),
                           str(tmp / "c"), *COMPILED], cwd=ROOT, check=False)
    shutil.rmtree(tmp, ignore_errors=True)
    if done.returncode != 0:
        shutil.rmtree(BUILD_DIR, ignore_errors=True)
        print("build-accel: mypyc failed (above); pure Python stays in use", file=sys.stderr)
        return done.returncode or 1
    MANIFEST.write_text(json.dumps({"cache_tag": sys.implementation.cache_tag,
                                    "modules": list(COMPILED), "sources": digests},
                                   indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(build())
