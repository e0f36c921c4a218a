"""Hypothesis fuzz test of a real access node over TCP, before login (shrinks a failure to a
minimal connection script; the bulk of the frames, and the client protocol after login, the peer
and the admin protocols, are in `test_fuzz_protocols.py`).

At least 1,000 malformed frames, several per connection, each of a category whose error code is
known by construction (bad_frame, unknown_type, missing_field, bad_field, unauthorized,
frame_too_large). Each must be answered with exactly that code, in order; a connection stays
usable (checked with a final ping) except after `frame_too_large` or a failed login, which close
it. Afterwards the node still serves valid traffic on other connections, and it never crashed.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import pytest
from fuzz_nodes import SECRET, FuzzNodes
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from imcluster._auth import user_token

pytestmark = pytest.mark.integration

MIN_FRAMES = 1_000
Case = tuple[bytes, str]  # (one line without newline, expected error code)


@pytest.fixture
def access_port(fuzz_nodes: FuzzNodes) -> int:
    return fuzz_nodes.access_port


# ------------------------------------------------------------------ strategies

def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


names = st.text(min_size=1, max_size=20).filter(lambda s: s.strip() == s and s.isprintable())
json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=10))
wrong_types = st.one_of(st.none(), st.booleans(), st.integers(), st.lists(st.integers(),
                                                                           max_size=2),
                        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
bad_names = st.one_of(wrong_types, st.just(""), st.text(min_size=257, max_size=300))
VALID: dict[str, dict[str, str]] = {
    "login": {"user": "u", "token": "t"},
    "send": {"id": "m1", "to": "bob", "body": "hi"},
    "ack": {"id": "m1"},
}

not_utf8 = st.binary(max_size=40).map(lambda b: b"\xff" + b.replace(b"\n", b""))
truncated = st.text(max_size=30).map(lambda t: b'{"type":' + _dumps(t) + b",")
not_object = st.one_of(json_scalars, st.lists(json_scalars, max_size=4)).map(_dumps)
no_type = st.dictionaries(names.filter(lambda k: k != "type"), json_scalars, max_size=4).map(_dumps)
type_not_string = wrong_types.map(lambda v: _dumps({"type": v}))
unknown = st.text(max_size=20).filter(
    lambda t: t not in ("login", "send", "ack", "logout", "ping", "admin_hello")).map(
    lambda t: _dumps({"type": t, "x": 1}))


@st.composite
def missing_field(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(sorted(VALID)))
    frame: dict[str, Any] = {"type": kind, **VALID[kind]}
    del frame[draw(st.sampled_from(sorted(VALID[kind])))]
    return _dumps(frame)


@st.composite
def bad_field(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(sorted(VALID)))
    frame: dict[str, Any] = {"type": kind, **VALID[kind]}
    field = draw(st.sampled_from(sorted(VALID[kind])))
    frame[field] = draw(wrong_types if field == "body" else bad_names)
    return _dumps(frame)


@st.composite
def before_login(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return _dumps({"type": "send", "id": draw(names), "to": draw(names),
                       "body": draw(st.text(max_size=50))})
    return _dumps({"type": "ack", "id": draw(names)})


staying = st.one_of(
    not_utf8.map(lambda b: (b, "bad_frame")),
    truncated.map(lambda b: (b, "bad_frame")),
    not_object.map(lambda b: (b, "bad_frame")),
    no_type.map(lambda b: (b, "missing_field")),
    type_not_string.map(lambda b: (b, "bad_field")),
    unknown.map(lambda b: (b, "unknown_type")),
    missing_field().map(lambda b: (b, "missing_field")),
    bad_field().map(lambda b: (b, "bad_field")),
    before_login().map(lambda b: (b, "unauthorized")),
)
closing = st.one_of(
    st.integers(65537, 90000).map(lambda n: (b"x" * n, "frame_too_large")),
    names.map(lambda u: (_dumps({"type": "login", "user": u, "token": "0" * 64}),
                         "unauthorized")),
)
connection_script = st.tuples(st.lists(staying, min_size=16, max_size=40),
                              st.one_of(st.none(), closing))


# ------------------------------------------------------------------ the test

def _read_lines(sock_file: Any, count: int | None) -> list[dict[str, Any]]:
    frames = []
    while count is None or len(frames) < count:
        line = sock_file.readline()
        if not line:
            break
        frames.append(json.loads(line))
    return frames


def _run_connection(port: int, cases: list[Case], last: Case | None) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        payload = b"".join(line + b"\n" for line, _ in cases)
        if last is None:
            payload += b'{"type":"ping"}\n'
        else:
            payload += last[0] + b"\n"
        sock.sendall(payload)
        sock_file = sock.makefile("rb")
        answers = _read_lines(sock_file, None if last else len(cases) + 1)
    expected = [code for _, code in cases] + [last[1] if last else "pong"]
    got = [a.get("code", a["type"]) if a["type"] == "error" else a["type"] for a in answers]
    assert got == expected, [(line[:80], code) for line, code in cases]


def _logged_in(port: int, user: str) -> tuple[socket.socket, Any]:
    """A logged-in raw connection; retried while the access node's hub link is still coming up."""
    for _ in range(100):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock_file = sock.makefile("rb")
        sock.sendall(_dumps({"type": "login", "user": user,
                             "token": user_token(SECRET, user)}) + b"\n")
        if _read_lines(sock_file, 1)[0]["type"] == "login_ok":
            return sock, sock_file
        sock.close()
        time.sleep(0.1)
    raise AssertionError(f"{user} could not log in")


def test_malformed_frames_get_stable_error_codes(access_port: int) -> None:
    sent = {"frames": 0, "connections": 0}

    @seed(20261127)
    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(connection_script)
    def one_connection(script: tuple[list[Case], Case | None]) -> None:
        cases, last = script
        _run_connection(access_port, cases, last)
        sent["frames"] += len(cases) + (1 if last else 0)
        sent["connections"] += 1

    bystander, bystander_file = _logged_in(access_port, "zoe")
    with bystander:
        one_connection()
        assert sent["frames"] >= MIN_FRAMES, sent
        print(f"pre-login frames (Hypothesis): {sent}")
        # valid traffic still flows, on the old connection and on a new one
        sender, sender_file = _logged_in(access_port, "yan")
        with sender:
            sender.sendall(_dumps({"type": "send", "id": "after-fuzz", "to": "zoe",
                                   "body": "still alive"}) + b"\n")
            assert _read_lines(sender_file, 1)[0]["type"] == "send_ok"
        delivery = _read_lines(bystander_file, 1)[0]
        assert (delivery["type"], delivery["id"], delivery["from"]) == ("deliver", "after-fuzz",
                                                                       "yan")
