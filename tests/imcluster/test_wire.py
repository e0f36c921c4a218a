"""Unit and property tests of the NDJSON codec and client-frame validation (imcluster._wire)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imcluster._wire import (
    MAX_CLIENT_FRAME,
    FrameTooLarge,
    LineDecoder,
    WireError,
    compact_encoder,
    encode,
    parse_frame,
    validate_client_frame,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10)
frames = st.dictionaries(st.text(min_size=1), json_values, max_size=4).map(
    lambda d: {**d, "type": "x"})


def test_encode_is_compact_json_with_newline() -> None:
    assert encode({"type": "ping"}) == b'{"type":"ping"}\n'
    assert encode({"type": "send", "body": "你好"}) == '{"type":"send","body":"你好"}\n'.encode()


@given(json_values | st.floats(), st.booleans(), st.booleans())
def test_compact_encoder_writes_what_json_dumps_writes(value: object, ascii_only: bool,
                                                      sort_keys: bool) -> None:
    """One C encoder built once (frames, entry sizes, store rows, event logs): the same text."""
    assert compact_encoder(ascii_only=ascii_only, sort_keys=sort_keys)(value) == json.dumps(
        value, separators=(",", ":"), ensure_ascii=ascii_only, sort_keys=sort_keys)


@given(st.lists(frames, max_size=5), st.lists(st.integers(1, 50), max_size=20))
def test_decoder_tolerates_any_split(batch: list[dict], cuts: list[int]) -> None:
    stream = b"".join(encode(f) for f in batch)
    decoder = LineDecoder(MAX_CLIENT_FRAME)
    out: list[bytes | FrameTooLarge] = []
    position = 0
    for cut in cuts:
        out += decoder.feed(stream[position:position + cut])
        position += cut
    out += decoder.feed(stream[position:])
    assert [parse_frame(line) for line in out if isinstance(line, bytes)] == batch
    assert decoder.buffered == 0


def test_decoder_reports_oversized_line_once_and_recovers() -> None:
    decoder = LineDecoder(10)
    out = decoder.feed(b"a" * 8) + decoder.feed(b"b" * 8) + decoder.feed(b"c" * 100)
    assert out == [FrameTooLarge(10)]
    assert decoder.buffered == 0
    assert decoder.feed(b"ccc\nok\n") == [b"ok"]
    assert decoder.feed(b"x" * 10 + b"\n") == [b"x" * 10]
    assert decoder.feed(b"y" * 11 + b"\nz\n") == [FrameTooLarge(10), b"z"]


@pytest.mark.parametrize("line, code", [
    (b"\xff\xfe", "bad_frame"),
    (b"{not json", "bad_frame"),
    (b"[1,2]", "bad_frame"),
    (b'"text"', "bad_frame"),
    (b"", "bad_frame"),
    (b"{}", "missing_field"),
    (b'{"user":"a"}', "missing_field"),
    (b'{"type":3}', "bad_field"),
    (b"[" * 100000 + b"]" * 100000, "bad_frame"),
])
def test_parse_frame_errors(line: bytes, code: str) -> None:
    with pytest.raises(WireError) as info:
        parse_frame(line)
    assert info.value.code == code
    assert info.value.to_frame()["type"] == "error"


def test_parse_frame_accepts_crlf() -> None:
    assert parse_frame(b'{"type":"ping"}\r') == {"type": "ping"}


@pytest.mark.parametrize("frame", [
    {"type": "login", "user": "alice", "token": "ab"},
    {"type": "send", "id": "m1", "to": "bob", "body": ""},
    {"type": "send", "id": "m" * 256, "to": "bob", "body": "x" * 1000, "extra": 1},
    {"type": "ack", "id": "m1"},
    {"type": "logout"},
    {"type": "ping"},
])
def test_valid_client_frames(frame: dict) -> None:
    assert validate_client_frame(frame) is frame


@pytest.mark.parametrize("frame, code", [
    ({"type": "hello"}, "unknown_type"),
    ({"type": "login_ok"}, "unknown_type"),
    ({"type": "login", "user": "alice"}, "missing_field"),
    ({"type": "login", "token": "t"}, "missing_field"),
    ({"type": "login", "user": "", "token": "t"}, "bad_field"),
    ({"type": "login", "user": 5, "token": "t"}, "bad_field"),
    ({"type": "send", "id": "m1", "to": "bob"}, "missing_field"),
    ({"type": "send", "id": "m1", "to": "b" * 257, "body": ""}, "bad_field"),
    ({"type": "send", "id": None, "to": "bob", "body": ""}, "bad_field"),
    ({"type": "send", "id": "m1", "to": "bob", "body": 1}, "bad_field"),
    ({"type": "send", "id": "m1", "to": "bob", "body": "\ud800"}, "bad_field"),
    ({"type": "ack"}, "missing_field"),
    ({"type": "ack", "id": ["m1"]}, "bad_field"),
    ({"user": "x"}, "missing_field"),
])
def test_invalid_client_frames(frame: dict, code: str) -> None:
    with pytest.raises(WireError) as info:
        validate_client_frame(frame)
    assert info.value.code == code


@given(json_values)
def test_parse_then_validate_raises_only_wire_errors(value: object) -> None:
    line = json.dumps(value).encode()
    try:
        validate_client_frame(parse_frame(line))
    except WireError as exc:
        assert exc.code in {"bad_frame", "missing_field", "bad_field", "unknown_type"}
