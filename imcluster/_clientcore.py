"""The client side of the client protocol (DESIGN §1), sans-IO: written once for every client.

`ClientCore` builds the frames a user sends (`login`, `send`, `ack`, `logout`, `ping`) and tells
what a frame from the access node means for the operations waiting on the connection. The
waiters are whatever the driver waits with: asyncio futures in `imcluster.client.Client`,
`(op, done)` callbacks in the sim backend's clients (`harness/sim/_clients.py`). `receive(frame)`
returns a `Received`: the waiters the frame answers (sends by id, the login, the oldest ping),
whether it was a refusal (`send_err`, `error`) with its code and message, the delivery and the
`ack` to write back. `take_all()` hands over every waiter when the connection ends. No I/O, no
clock: the drivers time out and write.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

__all__ = ["ClientCore", "Received", "ack_frame", "login_frame", "logout_frame", "ping_frame",
           "send_frame"]

Frame = dict[str, Any]
W = TypeVar("W")


def login_frame(user: str, token: str) -> Frame:
    return {"type": "login", "user": user, "token": token}


def send_frame(msg_id: str, to: str, body: str) -> Frame:
    return {"type": "send", "id": msg_id, "to": to, "body": body}


def ack_frame(msg_id: str) -> Frame:
    return {"type": "ack", "id": msg_id}


def logout_frame() -> Frame:
    return {"type": "logout"}


def ping_frame() -> Frame:
    return {"type": "ping"}


class Received(Generic[W]):
    """What one frame from the access node means (see the module docstring).

    A plain class, not a dataclass: mypyc (docs/accel.md) cannot import a generic dataclass it
    compiled, and a written-out `__init__` compiles to native stores."""

    __slots__ = ("ack", "answered", "code", "delivery", "first_delivery", "kind", "message",
                 "refused")

    def __init__(self, kind: object) -> None:
        self.kind = kind
        self.answered: list[W] = []
        self.refused = False  # `send_err`, or an `error` answering the login
        self.code = ""
        self.message = ""
        self.delivery: Frame | None = None
        self.first_delivery = False  # not seen before on this connection (by (from, id))
        self.ack: Frame | None = None  # to write back (auto-ack)

    def __repr__(self) -> str:
        return (f"Received(kind={self.kind!r}, answered={self.answered!r}, "
                f"refused={self.refused!r}, code={self.code!r})")


class ClientCore(Generic[W]):
    """The operations waiting on one connection, and what each frame received answers."""

    def __init__(self, auto_ack: bool = True, dedup: bool = True) -> None:
        self.auto_ack = auto_ack
        self.dedup = dedup
        self.sends: dict[str, list[W]] = {}
        self.login: W | None = None
        self.pings: list[W] = []
        self.errors: list[Frame] = []
        self._seen: set[tuple[object, str]] = set()  # (from, id): ids are per sender

    def wait_send(self, msg_id: str, waiter: W) -> None:
        self.sends.setdefault(msg_id, []).append(waiter)

    def forget_send(self, msg_id: str, waiter: W) -> None:
        """`waiter` gave up (a timeout): it is answered no more."""
        waiting = self.sends.get(msg_id, [])
        if waiter in waiting:
            waiting.remove(waiter)
        if not waiting:
            self.sends.pop(msg_id, None)

    def receive(self, frame: Frame) -> Received[W]:
        kind = frame.get("type")
        out: Received[W] = Received(kind)
        if kind == "deliver":
            msg_id = frame.get("id")
            out.delivery = frame
            if isinstance(msg_id, str):
                key = (frame.get("from"), msg_id)
                if not self.dedup:
                    out.first_delivery = True
                elif key not in self._seen:
                    self._seen.add(key)
                    out.first_delivery = True
                if self.auto_ack:
                    out.ack = ack_frame(msg_id)
        elif kind == "send_ok" or kind == "send_err":
            out.answered = self.sends.pop(str(frame.get("id")), [])
            if kind == "send_err":
                out.refused = True
                out.code, out.message = str(frame.get("code")), str(frame.get("message", ""))
        elif kind == "login_ok":
            out.answered = self._take_login()
        elif kind == "pong":
            if self.pings:
                out.answered = [self.pings.pop(0)]
        elif kind == "error":
            self.errors.append(frame)
            out.answered = self._take_login()
            out.refused = True
            out.code, out.message = str(frame.get("code")), str(frame.get("message", ""))
        return out

    def _take_login(self) -> list[W]:
        if self.login is None:
            return []
        waiter, self.login = self.login, None
        return [waiter]

    def take_all(self) -> list[W]:
        """Every waiter (sends, then pings, then the login), taken: the connection ended."""
        waiting = [w for ws in self.sends.values() for w in ws] + self.pings
        self.sends.clear()
        self.pings = []
        waiting.extend(self._take_login())
        return waiting
