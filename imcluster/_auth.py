"""User tokens and the inter-node handshake MAC (DESIGN §1, docs/architecture.md). Pure: hmac only."""

from __future__ import annotations

import hashlib
import hmac

HELLO_PREFIX = "imcluster-hello|"
ROLES = ("hub", "access", "admin")


def _as_bytes(secret: bytes | str) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else secret


def user_token(secret: bytes | str, user: str) -> str:
    """Lowercase hex HMAC-SHA256 of the user name (UTF-8) keyed by the cluster secret."""
    return hmac.new(_as_bytes(secret), user.encode("utf-8"), hashlib.sha256).hexdigest()


def check_token(secret: bytes | str, user: str, token: object) -> bool:
    """Constant-time check of a client's token; False for anything that is not a string."""
    if not isinstance(token, str) or not isinstance(user, str):
        return False
    expected = user_token(secret, user).encode("ascii")
    return hmac.compare_digest(expected, token.encode("utf-8", "surrogatepass"))


def hello_mac(secret: bytes | str, nonce: str, role: str, dc: str, node: str) -> str:
    """MAC of a `hello` answering the server's `challenge` nonce."""
    message = f"{HELLO_PREFIX}{nonce}|{role}|{dc}|{node}".encode()
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def check_hello(secret: bytes | str, nonce: str, role: object, dc: object, node: object,
                mac: object) -> bool:
    """Constant-time check of a `hello` frame's fields against the nonce we sent."""
    if not all(isinstance(v, str) for v in (role, dc, node, mac)) or role not in ROLES:
        return False
    expected = hello_mac(secret, nonce, str(role), str(dc), str(node)).encode("ascii")
    return hmac.compare_digest(expected, str(mac).encode("utf-8", "surrogatepass"))


NONCE_BYTES = 16


def new_nonce(raw: bytes) -> str:
    """A challenge nonce in hex from `raw` random bytes, which the driver draws from `secrets`
    (never from the seeded rng: a restart must not repeat a challenge, or a captured `hello`
    could be replayed)."""
    if len(raw) < NONCE_BYTES:
        raise ValueError(f"a nonce needs at least {NONCE_BYTES} random bytes")
    return raw.hex()


__all__ = ["NONCE_BYTES", "check_hello", "check_token", "hello_mac", "new_nonce", "user_token"]
