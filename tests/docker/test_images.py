"""The docker backend's images: stdlib-only node code, cache by inputs hash, rebuild on change."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness.backends._docker_images import (
    IMAGE_INPUTS_LABEL,
    _build,
    ensure_images,
    third_party_imports,
)
from harness.errors import SetupError


def test_imcluster_imports_only_the_standard_library() -> None:
    assert third_party_imports() == {}


def test_third_party_import_is_detected(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import json\nfrom pkg import x\nimport docker.errors\n")
    assert third_party_imports(package) == {"docker": {"__init__.py"}}
    (package / "opt.py").write_text("try:\n    import msgspec\nexcept ImportError:\n"
                                    "    msgspec = None\n"
                                    "try:\n    import rich\nexcept ValueError:\n    pass\n")
    # an optional import with a fallback counts not; one that only catches other errors does
    assert third_party_imports(package) == {"docker": {"__init__.py"}, "rich": {"opt.py"}}


@pytest.mark.docker
@pytest.mark.timeout(900)
def test_images_are_cached_and_run_python(docker_client: Any) -> None:
    first = ensure_images(docker_client)
    started = time.monotonic()
    second = ensure_images(docker_client)
    assert second == first
    assert time.monotonic() - started < 5, "cached images must not be rebuilt"
    node = docker_client.images.get(first.node)
    assert node.labels[IMAGE_INPUTS_LABEL]
    output = docker_client.containers.run(
        first.node, entrypoint=["python3", "-c", "import imcluster, sys; print(sys.version_info[:2])"],
        remove=True,
    )
    assert output.strip().startswith(b"(3, 1")


@pytest.mark.docker
@pytest.mark.timeout(900)
def test_changed_input_gives_a_new_image(docker_client: Any, tmp_path: Path) -> None:
    base = ensure_images(docker_client).base
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nCOPY payload /payload\n")
    payload = tmp_path / "payload"
    payload.write_text("one")
    tags = []
    try:
        tags.append(_build(docker_client, "cachetest", dockerfile, {"payload": payload}, base))
        tags.append(_build(docker_client, "cachetest", dockerfile, {"payload": payload}, base))
        payload.write_text("two")
        tags.append(_build(docker_client, "cachetest", dockerfile, {"payload": payload}, base))
        assert tags[0] == tags[1]
        assert tags[2] != tags[0]
    finally:
        for tag in set(tags):
            docker_client.images.remove(tag, force=True)


@pytest.mark.docker
@pytest.mark.timeout(900)
def test_image_overrides(docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    built = ensure_images(docker_client)
    monkeypatch.setenv("IMFAULT_TOXIPROXY_IMAGE", built.toxiproxy)
    monkeypatch.setenv("IMFAULT_BASE_IMAGE", built.base)
    assert ensure_images(docker_client) == built  # a local image is used as it is
    monkeypatch.setenv("IMFAULT_TOXIPROXY_IMAGE", "imfault-test/absent:0")
    with pytest.raises(SetupError, match="IMFAULT_TOXIPROXY_IMAGE"):
        ensure_images(docker_client)
