"""OfferBook: which local session a hub offered which message, and when (sans-IO, pure).

An offer is a `deliver` frame sent to an access node for one session `(node, conn)`. It can be
lost (the hub-access link dropped, the send queue was full), so an offer is only a rate limit: the
hub offers a pending message again to a session whose offer is older than the re-offer delay, and
to every session that (re)appears. The book forgets a session's offers when the session goes
away and a message's offers when the message is tombed (delivered and acknowledged); it holds at
most `max_messages` messages, forgetting the oldest first (a forgotten pending message is simply
offered again; the access node drops a second offer on the same connection).

It also remembers each offered message's recipient, so an ack can be checked for a message the
hub holds no entry of (a forwarded or online-first message).
"""

from __future__ import annotations

Session = tuple[str, str]  # (access node, conn)
Key = tuple[str, str, str]  # a message's (id, from, to): `_state.msg_key`


class OfferBook:
    """Offers by message key: `{session: offered_at_ns}` plus the recipient."""

    def __init__(self, max_messages: int) -> None:
        if max_messages < 1:
            raise ValueError("max_messages must be positive")
        self.max_messages = max_messages
        self.evicted = 0
        self._by_msg: dict[Key, dict[Session, int]] = {}  # insertion order = oldest first
        self._recipient: dict[Key, str] = {}
        self._by_user: dict[str, set[Key]] = {}

    def __len__(self) -> int:
        return len(self._by_msg)

    def __contains__(self, msg_id: object) -> bool:
        return msg_id in self._by_msg

    def ids(self) -> list[Key]:
        """Keys of the messages with offers, oldest first."""
        return list(self._by_msg)

    def keys_for(self, user: str) -> list[Key]:
        """Keys of the messages to `user` with offers, sorted."""
        return sorted(self._by_user.get(user, ()))

    def offered_at(self, msg_id: Key, session: Session) -> int | None:
        """When `msg_id` was last offered to `session` (ns), or None."""
        by_session = self._by_msg.get(msg_id)
        return None if by_session is None else by_session.get(session)

    def sessions(self, msg_id: Key) -> list[Session]:
        return sorted(self._by_msg.get(msg_id, ()))

    def recipient(self, msg_id: Key) -> str | None:
        return self._recipient.get(msg_id)

    def record(self, msg_id: Key, user: str, session: Session, now_ns: int) -> None:
        """Note that `msg_id` (to `user`) was offered to `session` at `now_ns`."""
        by_session = self._by_msg.get(msg_id)
        if by_session is None:
            while len(self._by_msg) >= self.max_messages:
                self.forget_message(next(iter(self._by_msg)))
                self.evicted += 1
            by_session = self._by_msg[msg_id] = {}
            self._recipient[msg_id] = user
            self._by_user.setdefault(user, set()).add(msg_id)
        by_session[session] = now_ns

    def forget_message(self, msg_id: Key) -> None:
        """The message is delivered (tombed) or no longer worth tracking."""
        if self._by_msg.pop(msg_id, None) is None:
            return
        user = self._recipient.pop(msg_id)
        ids = self._by_user.get(user)
        if ids is not None:
            ids.discard(msg_id)
            if not ids:
                del self._by_user[user]

    def forget_session(self, user: str, session: Session) -> None:
        """`session` of `user` went away or reappeared: what it was offered may not have arrived.
        The messages stay (with their recipient) until tombed or `forget_message`."""
        for msg_id in self._by_user.get(user, ()):
            self._by_msg[msg_id].pop(session, None)


__all__ = ["OfferBook", "Session"]
