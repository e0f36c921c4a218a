"""Access-node limits over real TCP (issue 9 item 4): a real hub and access node started with
`--max-connections 3 --login-timeout 1 --idle-timeout 2`; each limit answers with its error code
and closes, conn ids carry the process's incarnation, and admin still works on the same port."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from fuzz_nodes import running_nodes

from imcluster._auth import user_token
from imcluster.client import AdminClient

pytestmark = pytest.mark.integration

SECRET = "fuzz-secret"  # the one _start puts in the environment


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    limits = ("--max-connections", "3", "--login-timeout", "1", "--idle-timeout", "2")
    with running_nodes(tmp_path_factory.mktemp("limits"), access_args=limits) as nodes:
        yield nodes.access_port


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(10)
    return sock


def _frames_until_close(sock: socket.socket) -> list[dict[str, Any]]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def _login(sock: socket.socket, user: str) -> dict[str, Any]:
    token = user_token(SECRET.encode(), user)
    sock.sendall(json.dumps({"type": "login", "user": user, "token": token}).encode() + b"\n")
    line = sock.makefile("rb").readline()
    return dict(json.loads(line))


def test_the_connection_past_the_limit_is_refused(port: int) -> None:
    held = [_connect(port) for _ in range(3)]
    try:
        extra = _connect(port)
        assert [f.get("code") for f in _frames_until_close(extra)] == ["too_many_connections"]
    finally:
        for sock in held:
            sock.close()


def test_a_silent_connection_gets_login_timeout(port: int) -> None:
    sock = _connect(port)
    assert [f.get("code") for f in _frames_until_close(sock)] == ["login_timeout"]


def test_a_silent_logged_in_client_gets_idle_timeout_and_conn_ids_carry_the_incarnation(
        port: int) -> None:
    sock = _connect(port)
    ok = _login(sock, "alice")
    assert ok["type"] == "login_ok", ok
    assert re.fullmatch(r"dc1-a1:[0-9a-f]{8}\.\d+", ok["conn"]), ok["conn"]
    assert [f.get("code") for f in _frames_until_close(sock)] == ["idle_timeout"]


def test_admin_still_works_on_the_access_port(port: int) -> None:
    async def status() -> dict[str, Any]:
        async with AdminClient("127.0.0.1", port, SECRET) as admin:
            return dict(await admin.status())
    answer = asyncio.run(status())
    assert answer["role"] == "access"
    assert answer["counters"]["refused_connections"] >= 1
    assert answer["counters"]["login_timeouts"] >= 1
