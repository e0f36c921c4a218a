"""Seeded fuzz of real nodes over TCP where the bugs hid (issue 9, item 3): the client protocol
before and after login (send/ack/logout/ping sequences among malformed frames), the peer protocol
after an authenticated handshake (entries, digests, batches, forwards), and the admin protocol of
a hub and an access node. Over 100,000 frames, pipelined (never one reply awaited at a time).

Every frame's outcome is known by construction and checked:
- client: each malformed frame gets `error` with its code, in order; a ping `pong`; each valid
  send exactly one `send_ok`/`send_err`; acks and logouts nothing; `frame_too_large` and a failed
  login close the connection;
- peer (a protocol without error frames): a digest gets its `entries` answer, a forward its
  `forward_ok`/`forward_fail`, and every other frame moves the hub's counters exactly as
  expected (`bad_frames`, `bad_entries`, `entries_applied`); an unparseable line closes the link;
- admin: each request gets `admin_ok` or `error` with its code, in order; an unparseable one gets
  its error and a close.
Afterwards both nodes answer admin status and a message sent through them is delivered. The seed
is printed (set `IMFAULT_FUZZ_SEED` to replay one).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
from collections import Counter
from typing import Any

import pytest
from fuzz_nodes import SECRET, FuzzNodes
from test_core_peer_robust import bad_entries

from imcluster._auth import hello_mac, user_token
from imcluster.client import AdminClient

pytestmark = pytest.mark.integration

SEED = int(os.environ.get("IMFAULT_FUZZ_SEED", "20261201"))
USERS = [f"fz{i}" for i in range(6)]
# with test_fuzz_access.py's 1,000+ frames: over 100,000 in all
MIN_FRAMES = {"client": 45_000, "peer": 20_000, "admin": 35_000}
Line = bytes
SURROGATE_JSON = '"\\ud800"'  # a JSON string UTF-8 cannot encode


@pytest.fixture
def nodes(fuzz_nodes: FuzzNodes) -> FuzzNodes:
    return fuzz_nodes


def dumps(obj: object) -> Line:
    return json.dumps(obj, separators=(",", ":")).encode()


def text(rng: random.Random, max_len: int = 12) -> str:
    alphabet = "abcxyz019 _-éß€😀\t\"\\/{}"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, max_len)))


def junk(rng: random.Random) -> object:
    """A JSON value of a random type."""
    return rng.choice([None, True, 0, -3, 2**70, 1.5, [], [1, "a"], {}, {"a": 1}, text(rng)])


# ------------------------------------------------------------------ client frames

CLIENT_VALID = {"login": {"user": "u", "token": "t"}, "send": {"id": "m", "to": "b", "body": "x"},
                "ack": {"id": "m"}}


def malformed_client(rng: random.Random) -> tuple[Line, str]:
    """A client frame whose error code is known by construction (valid login state or not)."""
    pick = rng.randrange(9)
    if pick == 0:
        return b"\xff" + bytes(rng.randrange(1, 256) for _ in range(8)).replace(b"\n", b""), \
            "bad_frame"
    if pick == 1:
        return b'{"type":' + dumps(text(rng)) + b",", "bad_frame"
    if pick == 2:
        return dumps(rng.choice([None, 1, "s", [1, 2], 2.5, True])), "bad_frame"
    if pick == 3:
        return dumps({"x": junk(rng)}), "missing_field"
    if pick == 4:
        return dumps({"type": rng.choice([None, 1, [], {}, False])}), "bad_field"
    if pick == 5:
        return dumps({"type": "zz" + text(rng), "id": "m"}), "unknown_type"
    kind = rng.choice(sorted(CLIENT_VALID))
    frame: dict[str, Any] = {"type": kind, **CLIENT_VALID[kind]}
    field = rng.choice(sorted(CLIENT_VALID[kind]))
    if pick == 6:
        del frame[field]
        return dumps(frame), "missing_field"
    if pick == 7 or field == "body":
        placeholder = "@@SURROGATE@@"
        frame[field] = placeholder + ("x" if rng.random() < 0.5 else "")
        return dumps(frame).replace(b'"' + placeholder.encode(), SURROGATE_JSON[:-1].encode()), \
            "bad_field"
    frame[field] = rng.choice([None, 3, [], {}, "", "n" * 257])
    return dumps(frame), "bad_field"


class ClientScript:
    """One connection's frames and what each must get."""

    def __init__(self, rng: random.Random, number: int, logged_in: bool) -> None:
        self.user = rng.choice(USERS)
        self.lines: list[Line] = []
        self.sync: list[str] = []  # answers in order: error codes, "pong", "login_ok"
        self.sends: set[str] = set()  # ids that must get exactly one send_ok/send_err
        self.closing = False
        self.login_first = self.logged_in = logged_in
        for i in range(rng.randint(80, 220)):
            self._one(rng, f"c{number}-{i}")
        if rng.random() < 0.1:
            self.closing = True
            if not self.logged_in and rng.random() < 0.5:
                self._add(dumps({"type": "login", "user": self.user, "token": "0" * 64}),
                          "unauthorized")
            else:
                self._add(b"x" * rng.randint(65537, 70000), "frame_too_large")
        else:
            self._add(dumps({"type": "ping"}), "pong")

    def _add(self, line: Line, answer: str | None) -> None:
        self.lines.append(line)
        if answer is not None:
            self.sync.append(answer)

    def _one(self, rng: random.Random, msg_id: str) -> None:
        roll = rng.random()
        if roll < 0.03:  # each acknowledged send costs the hub a durable SQLite commit
            if rng.random() < 0.3:
                msg_id = f"shared-{rng.randrange(40)}"  # reused by other users: duplicate_id
            if msg_id in self.sends:
                return
            frame = {"type": "send", "id": msg_id, "to": rng.choice(USERS), "body": text(rng, 40)}
            if self.logged_in:
                self.sends.add(msg_id)
            self._add(dumps(frame), None if self.logged_in else "unauthorized")
        elif roll < 0.30:
            target = rng.choice([f"shared-{rng.randrange(40)}", text(rng) or "x", msg_id])
            self._add(dumps({"type": "ack", "id": target}),
                      None if self.logged_in else "unauthorized")
        elif roll < 0.32:
            self._add(dumps({"type": "logout"}), None)
            self.logged_in = False
        elif roll < 0.38:
            self._add(dumps({"type": "ping"}), "pong")
        elif roll < 0.41 and self.logged_in:
            other = rng.choice(USERS)
            self._add(dumps({"type": "login", "user": other, "token": user_token(SECRET, other)}),
                      "login_ok" if other == self.user else "already_logged_in")
        else:
            self._add(*malformed_client(rng))


async def run_client(port: int, script: ClientScript) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    try:
        if script.login_first:
            for _ in range(50):
                writer.write(dumps({"type": "login", "user": script.user,
                                    "token": user_token(SECRET, script.user)}) + b"\n")
                answer = json.loads(await asyncio.wait_for(reader.readline(), 10))
                if answer["type"] == "login_ok":
                    break
                writer.close()  # the access node's hub link is still coming up
                await asyncio.sleep(0.1)
                reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
            else:
                raise AssertionError(f"{script.user} could not log in")
        writer.write(b"".join(line + b"\n" for line in script.lines))
        sync: list[str] = []
        answered: Counter[str] = Counter()
        while True:
            if not script.closing and len(sync) == len(script.sync) and set(answered) == \
                    script.sends:
                break
            try:
                line = await asyncio.wait_for(reader.readline(), 20)
            except TimeoutError:
                raise AssertionError(f"no answer: got {sync} want {script.sync}; sends "
                                     f"unanswered {sorted(script.sends - set(answered))}; "
                                     f"lines {script.lines}") from None
            if not line:
                assert script.closing, f"closed early after {sync}"
                break
            frame = json.loads(line)
            kind = frame["type"]
            if kind == "error":
                sync.append(frame["code"])
            elif kind in ("pong", "login_ok"):
                sync.append(kind)
            elif kind in ("send_ok", "send_err"):
                assert kind == "send_ok" or frame["code"] == "duplicate_id", frame
                answered[frame["id"]] += 1
            else:
                assert kind == "deliver", frame
        assert sync == script.sync
        assert all(n == 1 for n in answered.values()) and set(answered) <= script.sends
        if not script.closing:
            assert set(answered) == script.sends
    finally:
        writer.close()


async def test_client_protocol_before_and_after_login(nodes: FuzzNodes) -> None:
    print(f"fuzz seed {SEED} (IMFAULT_FUZZ_SEED)")
    rng = random.Random(SEED)
    frames, number = 0, 0
    while frames < MIN_FRAMES["client"]:
        batch = [ClientScript(rng, number + k, logged_in=k % 3 != 0) for k in range(6)]
        number += len(batch)
        await asyncio.gather(*(run_client(nodes.access_port, s) for s in batch))
        frames += sum(len(s.lines) for s in batch)
    print(f"client frames: {frames} on {number} connections")
    await assert_healthy_and_delivering(nodes)


# ------------------------------------------------------------------ peer frames

BAD_ENTRIES = bad_entries()
FULL_VV = {origin: 10**9 for origin in ("dc1", "fz0", "fz1", "fz2", "fz3")}


class PeerScript:
    """Frames a fake `dc2` hub sends, with the replies and counter moves they must cause."""

    def __init__(self, rng: random.Random, dots: dict[str, int], applied: set[tuple[str, int]]
                 ) -> None:
        self.lines: list[Line] = []
        self.digests = 0
        self.forwards: list[str] = []
        self.moves: Counter[str] = Counter()
        self.closing = False
        self._dots, self._applied = dots, applied
        for i in range(rng.randint(150, 350)):
            self._one(rng, i)
        if rng.random() < 0.15:
            self.closing = True
            self.lines.append(rng.choice([b"{not json", b"\xff\xfe", b"[1,2]", b'{"x":1}']))
        else:  # a barrier: its answer comes after every frame before it was handled
            self.lines.append(dumps({"type": "digest", "vv": FULL_VV}))
            self.digests += 1

    def _valid_entry(self, rng: random.Random) -> dict[str, Any]:
        origin = f"fz{rng.randrange(4)}"
        if rng.random() < 0.2 and self._dots.get(origin):
            seq = rng.randint(1, self._dots[origin])  # a dot sent before
        else:
            seq = self._dots[origin] = self._dots.get(origin, 0) + 1
        user = f"fzu{rng.randrange(20)}"
        kind = rng.choice(["coord", "msg", "tomb"])
        data: dict[str, Any]
        if kind == "coord":
            key, data = user, {"dc": "dc2", "node": "dc2-a1", "conn": f"c{seq}",
                               "online": rng.random() < 0.5}
        elif kind == "msg":
            key = f"pm{rng.randrange(1000)}"
            data = {"id": key, "from": "fzs", "to": user, "body": text(rng, 30), "sent_at": seq}
        else:
            key, data = f"pm{rng.randrange(1000)}", {"from": "fzs", "to": user}
        if (origin, seq) not in self._applied:
            self._applied.add((origin, seq))
            self.moves["entries_applied"] += 1
        return {"kind": kind, "key": key, "origin": origin, "seq": seq,
                "hlc": [rng.randrange(10**6), rng.randrange(5)], "data": data}

    def _bad_entry(self, rng: random.Random) -> object:
        self.moves["bad_entries"] += 1
        if rng.random() < 0.4:
            return rng.choice(BAD_ENTRIES)
        entry = {"kind": "coord", "key": "k", "origin": "fz9", "seq": 1, "hlc": [1, 0],
                 "data": {"dc": "dc2", "node": "n", "conn": "c", "online": True}}
        field = rng.choice(["kind", "key", "origin", "seq", "hlc", "data", "whole"])
        if field == "whole":
            return junk(rng) if rng.random() < 0.5 else {}
        if rng.random() < 0.3:
            del entry[field]
        else:
            entry[field] = rng.choice([None, "", [], {}, -1, 0, 2**64, "x" * 300, [1, 2, 3]])
        return entry

    def _one(self, rng: random.Random, i: int) -> None:
        roll = rng.random()
        frame: dict[str, Any]
        if roll < 0.15:
            vv: dict[str, Any] = dict(FULL_VV)  # answers stay small: we know (nearly) all
            if rng.random() < 0.3:
                vv[f"fz{rng.randrange(4)}"] = rng.choice([0, 1, 5, -1, "x", None, 2**70])
            vv[text(rng) or "k"] = junk(rng)
            frame = {"type": "digest", "vv": vv}
            self.digests += 1
        elif roll < 0.55:
            # few frames carry new entries: each costs the hub a durable SQLite commit
            valid = 0.4 if rng.random() < 0.05 else 0.0
            entries = [self._valid_entry(rng) if rng.random() < valid else self._bad_entry(rng)
                       for _ in range(rng.randint(0, 6))]
            frame = {"type": rng.choice(["push", "entries"]), "entries": entries}
        elif roll < 0.62:
            msg_id = f"pf{i}-{rng.randrange(10**6)}"
            frame = {"type": "forward", "msg": {"id": msg_id, "from": "fzs", "to": "fzu1",
                                                "body": text(rng)}}
            self.forwards.append(msg_id)
        else:
            self.moves["bad_frames"] += 1
            frame = rng.choice([
                {"type": "digest", "vv": rng.choice([None, [], "vv", 3, [{}]])},
                {"type": rng.choice(["push", "entries"]), "entries": rng.choice([None, {}, 1])},
                {"type": "forward", "msg": rng.choice([None, [], {"id": "m"},
                                                        {"id": "m", "from": 1, "to": "b",
                                                         "body": ""}])},
                {"type": rng.choice(["forward_ok", "forward_fail"]), "id": junk(rng)},
                {"type": "zz" + text(rng)},
            ])
            if frame["type"] in ("forward_ok", "forward_fail") and isinstance(
                    frame["id"], str) and 0 < len(frame["id"]) <= 256:
                self.moves["bad_frames"] -= 1  # a well-formed answer to no forward: ignored
        self.lines.append(dumps(frame).replace(b'"@S@"', SURROGATE_JSON.encode()))


async def peer_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=8 << 20)
    challenge = json.loads(await asyncio.wait_for(reader.readline(), 10))
    mac = hello_mac(SECRET.encode(), challenge["nonce"], "hub", "dc2", "dc2-hub")
    writer.write(dumps({"type": "hello", "role": "hub", "dc": "dc2", "node": "dc2-hub",
                        "mac": mac}) + b"\n")
    assert json.loads(await asyncio.wait_for(reader.readline(), 10))["type"] == "hello_ok"
    return reader, writer


async def test_peer_protocol_after_the_handshake(nodes: FuzzNodes) -> None:
    print(f"fuzz seed {SEED} (IMFAULT_FUZZ_SEED)")
    rng = random.Random(SEED + 1)
    dots: dict[str, int] = {}
    applied: set[tuple[str, int]] = set()
    frames = 0
    async with AdminClient("127.0.0.1", nodes.hub_port, SECRET) as admin:
        while frames < MIN_FRAMES["peer"]:
            script = PeerScript(rng, dots, applied)
            before = (await admin.status())["counters"]
            reader, writer = await peer_connection(nodes.hub_port)
            try:
                writer.write(b"".join(line + b"\n" for line in script.lines))
                digests, forwards = 0, []
                while not script.closing and (digests < script.digests
                                              or len(forwards) < len(script.forwards)):
                    line = await asyncio.wait_for(reader.readline(), 20)
                    assert line, "the hub closed a peer link over valid frames"
                    frame = json.loads(line)
                    if frame["type"] == "entries":
                        assert "vv" in frame
                        digests += 1
                    else:
                        assert frame["type"] in ("forward_ok", "forward_fail"), frame
                        forwards.append(frame["id"])
                if script.closing:  # the unparseable line closes the link
                    while await asyncio.wait_for(reader.readline(), 20):
                        pass
                else:
                    assert forwards == script.forwards
            finally:
                writer.close()
            after = (await admin.status())["counters"]
            for name in ("bad_frames", "bad_entries", "entries_applied"):
                assert after[name] - before[name] == script.moves[name], (name, script.moves)
            frames += len(script.lines)
    print(f"peer frames: {frames}")
    await assert_healthy_and_delivering(nodes)


# ------------------------------------------------------------------ admin frames

def admin_request(rng: random.Random) -> tuple[Line, str]:
    roll = rng.random()
    if roll < 0.05:  # the status answer is the costly one (coordinates, counters)
        return dumps({"type": "admin", "op": "status"}), "admin_ok"
    if roll < 0.2:
        return dumps({"type": "admin", "op": "set_clock",
                      "offset_ms": rng.choice([0, -500, 1200, 2.5])}), "admin_ok"
    if roll < 0.65:
        bad = rng.choice([None, "x", [], {}, True, 10**30, -(10**30), 1e300, -1e300])
        return dumps({"type": "admin", "op": "set_clock", "offset_ms": bad}), "bad_field"
    if roll < 0.7:
        return (dumps({"type": "admin", "op": "set_clock", "offset_ms": 1}).replace(
            b"1}", b"NaN}" if rng.random() < 0.5 else b"Infinity}"), "bad_field")
    if roll < 0.85:
        return dumps({"type": "admin", "op": rng.choice([None, 1, "", "stop", [], "@S@"])}).replace(
            b'"@S@"', SURROGATE_JSON.encode()), "bad_field"
    return dumps({"type": rng.choice(["status", "hello", "ping", "zz" + text(rng)]),
                  "op": "status"}), "unknown_type"


async def admin_connection(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=8 << 20)
    writer.write(b'{"type":"admin_hello"}\n')
    challenge = json.loads(await asyncio.wait_for(reader.readline(), 10))
    mac = hello_mac(SECRET.encode(), challenge["nonce"], "admin", "", "admin")
    writer.write(dumps({"type": "hello", "role": "admin", "dc": "", "node": "admin",
                        "mac": mac}) + b"\n")
    assert json.loads(await asyncio.wait_for(reader.readline(), 10))["type"] == "hello_ok"
    return reader, writer


async def fuzz_admin(port: int, rng: random.Random, minimum: int) -> None:
    frames = 0
    while frames < minimum:
        requests = [admin_request(rng) for _ in range(rng.randint(100, 300))]
        closing = rng.random() < 0.15
        if closing:
            requests.append(rng.choice([(b"{oops", "bad_frame"), (b'{"op":"status"}',
                                                                  "missing_field"),
                                        (b"\xff", "bad_frame"), (b"[]", "bad_frame")]))
        reader, writer = await admin_connection(port)
        try:
            writer.write(b"".join(line + b"\n" for line, _ in requests))
            got = []
            for _ in requests:
                frame = json.loads(await asyncio.wait_for(reader.readline(), 20))
                got.append(frame.get("code", frame["type"]) if frame["type"] == "error"
                           else frame["type"])
            assert got == [code for _, code in requests]
            if closing:
                assert await asyncio.wait_for(reader.readline(), 20) == b""
        finally:
            writer.close()
        frames += len(requests)
    print(f"admin frames on port {port}: {frames}")


async def test_admin_protocol_of_hub_and_access_node(nodes: FuzzNodes) -> None:
    print(f"fuzz seed {SEED} (IMFAULT_FUZZ_SEED)")
    half = MIN_FRAMES["admin"] // 2
    await asyncio.gather(fuzz_admin(nodes.hub_port, random.Random(SEED + 2), half),
                         fuzz_admin(nodes.access_port, random.Random(SEED + 3), half))
    for port in (nodes.hub_port, nodes.access_port):
        async with AdminClient("127.0.0.1", port, SECRET) as admin:
            await admin.set_clock(0)
    await assert_healthy_and_delivering(nodes)


# ------------------------------------------------------------------ afterwards

async def assert_healthy_and_delivering(nodes: FuzzNodes) -> None:
    """Both nodes answer admin status, and a message sent through them is delivered."""
    assert nodes.alive()
    for port in (nodes.hub_port, nodes.access_port):
        async with AdminClient("127.0.0.1", port, SECRET) as admin:
            status = await admin.status()
            assert status["type"] == "admin_ok" and status["counters"]["core_errors"] == 0
    tag = random.randrange(10**9)
    sender, recipient = f"after-a-{tag}", f"after-b-{tag}"
    streams = {}
    for user in (sender, recipient):
        reader, writer = await asyncio.open_connection("127.0.0.1", nodes.access_port)
        writer.write(dumps({"type": "login", "user": user,
                            "token": user_token(SECRET, user)}) + b"\n")
        assert json.loads(await asyncio.wait_for(reader.readline(), 10))["type"] == "login_ok"
        streams[user] = (reader, writer)
    msg_id = f"after-{tag}"
    streams[sender][1].write(dumps({"type": "send", "id": msg_id, "to": recipient,
                                    "body": "still alive"}) + b"\n")
    assert json.loads(await asyncio.wait_for(streams[sender][0].readline(), 10)) == {
        "type": "send_ok", "id": msg_id}
    delivery = json.loads(await asyncio.wait_for(streams[recipient][0].readline(), 10))
    assert (delivery["type"], delivery["id"], delivery["from"]) == ("deliver", msg_id, sender)
    for _, writer in streams.values():
        writer.close()
