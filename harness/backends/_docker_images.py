"""Images of the docker backend, built through docker-py without any registry.

Three images, each cached by a label holding a hash of its inputs and rebuilt only when they change:
- base: `$IMFAULT_BASE_IMAGE` when set (e.g. an official `python:3.12-slim` that can be pulled),
  else a local Debian bookworm minbase + python3 made by `build-base.sh` (debootstrap, then
  `docker import`);
- node: `Dockerfile.node` (`FROM $BASE_IMAGE`) with the `imcluster` package, which must import
  nothing outside the standard library (checked before building);
- toxiproxy: `$IMFAULT_TOXIPROXY_IMAGE` when set (the official `ghcr.io/shopify/toxiproxy:2.12.0`
  where it can be pulled; its entrypoint takes the same flags), else
  `Dockerfile.toxiproxy` with the harness's `toxiproxy-server` binary.
Other systems under test build theirs on the same base (`ensure_system_image`, e.g.
`Dockerfile.nats` with the harness's `nats-server`, `Dockerfile.mosquitto` with Debian's package).

The image sources are package data of `harness.backends` (`docker_files/`), and the node image takes
`imcluster` from wherever that package is imported from, so an installed wheel builds the same
images (same inputs hashes) as the source tree.
"""

from __future__ import annotations

import ast
import hashlib
import io
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import imcluster

from ..errors import SetupError

__all__ = [
    "IMAGE_INPUTS_LABEL",
    "Images",
    "ensure_images",
    "ensure_system_image",
    "third_party_imports",
]

IMAGE_INPUTS_LABEL = "imfault.inputs"
IMAGE_KIND_LABEL = "imfault.image"
DOCKER_DIR = Path(__file__).resolve().parent / "docker_files"
IMCLUSTER_DIR = Path(imcluster.__file__).resolve().parent
BASE_BUILD_TIMEOUT_S = 900


@dataclass(frozen=True)
class Images:
    """Tags of the images a docker cluster runs."""

    base: str
    node: str
    toxiproxy: str


def third_party_imports(package_dir: Path = IMCLUSTER_DIR) -> dict[str, set[str]]:
    """Top-level modules imported by `package_dir`'s sources that are neither in the standard
    library nor the package itself: {module: {files importing it}} (empty when stdlib-only).
    An optional import (in a `try` whose handler catches `ImportError`: the code has a fallback,
    like `imcluster._memnet`'s `mypyc_attr` for the compiled build) does not count."""
    own = package_dir.name
    found: dict[str, set[str]] = {}
    for path in sorted(package_dir.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        optional = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) and _catches_import(t)
                    for stmt in t.body for n in ast.walk(stmt)}
        for node in ast.walk(tree):
            if id(node) in optional:
                continue
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top != own and top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(top, set()).add(str(path.relative_to(package_dir)))
    return found


def _catches_import(node: ast.Try) -> bool:
    caught = [h.type for h in node.handlers]
    names = {n.id for t in caught if t is not None
             for n in ast.walk(t) if isinstance(n, ast.Name)}
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def _package_files(package_dir: Path) -> list[Path]:
    return sorted(
        p for p in package_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()


def _find_cached(client: Any, kind: str, inputs_hash: str) -> str | None:
    images = client.images.list(
        filters={"label": [f"{IMAGE_KIND_LABEL}={kind}", f"{IMAGE_INPUTS_LABEL}={inputs_hash}"]}
    )
    if not images:
        return None
    tags = images[0].tags
    return str(tags[0]) if tags else str(images[0].id)


def _local_or_pulled(client: Any, variable: str) -> str | None:
    """The image named by environment variable `variable` (pulled when not local), or None
    when the variable is unset; `SetupError` when it can be neither found nor pulled."""
    image = os.environ.get(variable)
    if not image:
        return None
    try:
        client.images.get(image)
    except Exception:  # noqa: BLE001 - docker.errors.ImageNotFound and API errors alike
        try:
            client.images.pull(image)
        except Exception as exc:
            raise SetupError(f"{variable}={image} is neither local nor pullable ({exc}); unset "
                             "it to build the image locally") from exc
    return image


def _ensure_base(client: Any) -> str:
    override = _local_or_pulled(client, "IMFAULT_BASE_IMAGE")
    if override:
        return override
    script = DOCKER_DIR / "build-base.sh"
    inputs_hash = _digest(b"bookworm minbase python3", script.read_bytes())
    cached = _find_cached(client, "base", inputs_hash)
    if cached:
        return cached
    tag = f"imfault-base:{inputs_hash[:16]}"
    if os.geteuid() != 0:
        raise SetupError("building the local base image needs root (debootstrap); run "
                         f"`sudo bash {script} {tag}` or set IMFAULT_BASE_IMAGE to a python3 image")
    try:
        done = subprocess.run(
            ["bash", str(script), tag, f"{IMAGE_KIND_LABEL}=base",
             f"{IMAGE_INPUTS_LABEL}={inputs_hash}"],
            capture_output=True, text=True, timeout=BASE_BUILD_TIMEOUT_S, check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SetupError(f"building the base image with {script} failed: {exc}") from exc
    if done.returncode != 0:
        raise SetupError(
            f"{script} failed (exit {done.returncode}); install debootstrap "
            f"(scripts/docker-engine does) and check the Debian mirror:\n{done.stderr[-2000:]}"
        )
    return tag


def _build(client: Any, kind: str, dockerfile: Path, files: dict[str, Path],
           base: str) -> str:
    """Build `dockerfile` with `files` ({path in context: host path}) unless an image with the
    same inputs hash exists; returns its tag."""
    base_id = str(client.images.get(base).id)
    parts = [dockerfile.read_bytes(), base_id.encode()]
    for arcname, path in sorted(files.items()):
        parts += [arcname.encode(), path.read_bytes()]
    inputs_hash = _digest(*parts)
    cached = _find_cached(client, kind, inputs_hash)
    if cached:
        return cached
    tag = f"imfault-{kind}:{inputs_hash[:16]}"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        tar.add(str(dockerfile), arcname="Dockerfile")
        for arcname, path in sorted(files.items()):
            info = tar.gettarinfo(str(path), arcname=arcname)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with path.open("rb") as fh:
                tar.addfile(info, fh)
    context.seek(0)
    try:
        client.images.build(
            fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, pull=False,
            buildargs={"BASE_IMAGE": base},
            labels={IMAGE_KIND_LABEL: kind, IMAGE_INPUTS_LABEL: inputs_hash},
        )
    except Exception as exc:
        log = "".join(str(line.get("stream") or line.get("error") or "")
                      for line in getattr(exc, "build_log", None) or [])
        raise SetupError(f"building the {kind} image from {dockerfile} failed: {exc}"
                         + (f"\n{log[-1500:]}" if log else "")) from exc
    return tag


def ensure_system_image(client: Any, kind: str, files: dict[str, Path], hint: str = "") -> str:
    """The image of a system under test: `docker_files/Dockerfile.<kind>` on the base image with
    `files` ({path in context: host path}) in its context, built unless cached; `SetupError`
    ending with `hint` (what to install or check) when it cannot be built."""
    try:
        return _build(client, kind, DOCKER_DIR / f"Dockerfile.{kind}", files, _ensure_base(client))
    except SetupError as exc:
        raise SetupError(f"{exc}{'; ' + hint if hint else ''}") from exc


def ensure_images(client: Any, node: bool = True) -> Images:
    """Build (or find cached) base, node and toxiproxy images; return their tags (`node` ""
    when not asked for: another system under test runs no imcluster node)."""
    from .._toxiproxy import find_toxiproxy_server

    base = _ensure_base(client)
    node_tag = _ensure_node(client, base) if node else ""
    toxiproxy = _local_or_pulled(client, "IMFAULT_TOXIPROXY_IMAGE")
    if toxiproxy is None:
        toxiproxy = _build(client, "toxiproxy", DOCKER_DIR / "Dockerfile.toxiproxy",
                           {"toxiproxy-server": Path(find_toxiproxy_server())}, base)
    return Images(base=base, node=node_tag, toxiproxy=toxiproxy)


def _ensure_node(client: Any, base: str) -> str:
    foreign = third_party_imports()
    if foreign:
        raise SetupError(f"imcluster must import only the standard library to run in the node "
                         f"image, but imports {sorted(foreign)}")
    node_files = {
        f"imcluster/{p.relative_to(IMCLUSTER_DIR).as_posix()}": p
        for p in _package_files(IMCLUSTER_DIR)
    }
    return _build(client, "node", DOCKER_DIR / "Dockerfile.node", node_files, base)
