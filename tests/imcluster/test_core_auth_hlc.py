"""Unit tests of user tokens, handshake MACs (imcluster._auth) and the hybrid logical clock."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imcluster._auth import check_hello, check_token, hello_mac, new_nonce, user_token
from imcluster._hlc import Hlc


def test_user_token_is_lowercase_hex_hmac_sha256() -> None:
    expected = hmac.new(b"s3cret", "zoë".encode(), hashlib.sha256).hexdigest()
    assert user_token(b"s3cret", "zoë") == expected == user_token("s3cret", "zoë")
    assert expected == expected.lower() and len(expected) == 64


def test_check_token() -> None:
    token = user_token(b"k", "alice")
    assert check_token(b"k", "alice", token)
    assert not check_token(b"k", "alice", token.upper())
    assert not check_token(b"k", "bob", token)
    assert not check_token(b"other", "alice", token)
    assert not check_token(b"k", "alice", None)
    assert not check_token(b"k", "alice", "é\ud800")


def test_hello_mac_matches_architecture_doc() -> None:
    mac = hello_mac(b"k", "00ff", "hub", "dc1", "dc1-hub")
    assert mac == hmac.new(b"k", b"imcluster-hello|00ff|hub|dc1|dc1-hub", hashlib.sha256).hexdigest()
    assert check_hello(b"k", "00ff", "hub", "dc1", "dc1-hub", mac)
    assert not check_hello(b"k", "00fe", "hub", "dc1", "dc1-hub", mac)
    assert not check_hello(b"x", "00ff", "hub", "dc1", "dc1-hub", mac)
    assert not check_hello(b"k", "00ff", "access", "dc1", "dc1-hub", mac)
    assert not check_hello(b"k", "00ff", "root", "dc1", "dc1-hub", hello_mac(b"k", "00ff", "root",
                                                                            "dc1", "dc1-hub"))
    assert not check_hello(b"k", "00ff", "hub", "dc1", None, mac)


def test_nonce_is_the_hex_of_the_bytes_the_driver_draws() -> None:
    assert new_nonce(bytes(range(16))) == bytes(range(16)).hex()
    with pytest.raises(ValueError):
        new_nonce(b"short")


def test_hlc_ticks_when_wall_clock_stalls_or_goes_back() -> None:
    clock = Hlc()
    assert clock.now(100) == (100, 0)
    assert clock.now(100) == (100, 1)
    assert clock.now(50) == (100, 2)
    assert clock.now(200) == (200, 0)


def test_hlc_observe() -> None:
    clock = Hlc()
    clock.now(100)
    assert clock.observe((500, 3), 100) == (500, 4)
    assert clock.now(100) == (500, 5)
    assert clock.observe((10, 0), 1000) == (1000, 0)
    assert clock.observe((1000, 7), 900) == (1000, 8)


@given(st.lists(st.tuples(st.booleans(), st.integers(0, 1000), st.integers(0, 1000),
                          st.integers(0, 5))))
def test_hlc_is_strictly_monotonic_and_above_what_it_saw(steps: list) -> None:
    clock = Hlc()
    last = (-1, -1)
    for is_receive, physical, remote_wall, remote_logical in steps:
        if is_receive:
            stamp = clock.observe((remote_wall, remote_logical), physical)
            assert stamp > (remote_wall, remote_logical)
        else:
            stamp = clock.now(physical)
        assert stamp > last and stamp[0] >= physical
        last = stamp
