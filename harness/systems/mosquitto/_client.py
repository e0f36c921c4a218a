"""The IM workload on MQTT (paho-mqtt): one user = one persistent MQTT session per DC.

* A user's client id is the user's name; it connects with `clean_session=False` (MQTT 3.1.1), so
  the broker keeps the user's subscription and queues its QoS 1 messages while it is offline.
* `login(user)` subscribes (QoS 1) to `+/inbox/<user>`: `local/inbox/<user>` (sent in this DC) and
  `remote/inbox/<user>` (brought by a bridge from another DC). `logout` disconnects cleanly (the
  session stays).
* `send(id, to)` publishes QoS 1 to `local/inbox/<to>` a JSON payload `{id, from, to, dc}`; the ack
  is the broker's PUBACK. A publish the client cannot hand over raises (indeterminate: `info`).
* Every PUBLISH received becomes a `deliver` frame `{id, from, to, dc, via}`, `via` being the
  topic's first level (`local` or `remote`).

paho runs its network loop in a thread per client (`loop_start`); results cross to asyncio with
`call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from .._base import DeliverCallback

__all__ = ["MqttUserClient", "create_sessions", "inbox_filter"]

KEEPALIVE_S = 10


def inbox_filter(user: str) -> str:
    return f"+/inbox/{user}"


class MqttUserClient:
    """One user's MQTT connection to the broker of `dc` (see the module docstring)."""

    def __init__(self, host: str, port: int, user: str, dc: str, node: str,
                 on_deliver: DeliverCallback) -> None:
        import paho.mqtt.client as mqtt

        self.host, self.port, self.user, self.dc, self.node = host, port, user, dc, node
        self._on_deliver = on_deliver
        self._loop = asyncio.get_running_loop()
        self._mqtt = mqtt
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user,
                                   clean_session=False, protocol=mqtt.MQTTv311)
        self._client.max_inflight_messages_set(1000)
        self._connected: asyncio.Future[int] = self._loop.create_future()
        self._acks: dict[int, asyncio.Future[None]] = {}
        self.closed = asyncio.Event()
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._client.on_subscribe = self._on_subscribe
        self._subscribed: asyncio.Future[None] | None = None
        self._stopping = False

    # paho thread -> asyncio ----------------------------------------------------------------
    def _call(self, fn: Callable[..., None], *args: Any) -> None:
        if not self._loop.is_closed():
            self._loop.call_soon_threadsafe(fn, *args)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        self._call(_resolve, self._connected, int(getattr(reason, "value", reason)))

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._call(self._closed)

    def _closed(self) -> None:
        self.closed.set()
        error = ConnectionError("the broker closed the connection")
        for future in list(self._acks.values()) + [self._connected, self._subscribed]:
            if future is not None and not future.done():
                future.set_exception(error)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any,
                      properties: Any) -> None:
        if self._subscribed is not None:
            self._call(_resolve, self._subscribed, None)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any,
                    properties: Any) -> None:
        self._call(self._acked, mid)

    def _acked(self, mid: int) -> None:
        future = self._acks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            body = {}
        frame = {"type": "deliver", "id": body.get("id"), "from": body.get("from"),
                 "to": body.get("to"), "dc": self.dc, "via": message.topic.split("/", 1)[0]}
        self._call(self._on_deliver, self.user, frame)

    # the workload's ops ------------------------------------------------------------------------
    async def connect(self) -> None:
        """TCP connect and CONNECT (refused or unreachable: `ConnectionError`); waits CONNACK."""
        try:
            await self._loop.run_in_executor(None, self._client.connect, self.host, self.port,
                                             KEEPALIVE_S)
            self._client.loop_start()
            code = await self._connected
        except BaseException:
            # a paused broker takes the TCP connection but never answers: when the workload
            # gives up (timeout, cancel), this client must not connect later and take the
            # session over from the user's next connection (same client id)
            self._stop()
            raise
        if code != 0:
            self._stop()
            raise ConnectionError(f"CONNACK refused: reason code {code}")

    async def login(self, user: str) -> dict[str, Any]:
        self._subscribed = self._loop.create_future()
        result, _ = self._client.subscribe(inbox_filter(user), qos=1)
        if result != self._mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"SUBSCRIBE not sent: {self._mqtt.error_string(result)}")
        await self._subscribed
        return {"node": self.node, "conn": f"{self.node}:{self.user}"}

    async def logout(self) -> None:
        self._stop()

    async def send(self, msg_id: str, to: str, body: str, timeout: float) -> None:
        payload = json.dumps({"id": msg_id, "from": self.user, "to": to, "dc": self.dc,
                              "body": body})
        info = self._client.publish(f"local/inbox/{to}", payload, qos=1)
        if info.rc != self._mqtt.MQTT_ERR_SUCCESS:
            raise ConnectionError(f"PUBLISH not sent: {self._mqtt.error_string(info.rc)}")
        future = self._acks.setdefault(info.mid, self._loop.create_future())
        if info.is_published():
            self._acked(info.mid)
        await asyncio.wait_for(future, timeout)

    def close(self) -> None:
        self._stop()

    def _stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._client.disconnect()
        self._client.loop_stop()


def _resolve(future: asyncio.Future[Any], value: Any) -> None:
    if not future.done():
        future.set_result(value)


def create_sessions(host: str, port: int, users: list[str], timeout: float = 10.0) -> None:
    """Create each user's persistent session and inbox subscription on one broker (then
    disconnect), so that the broker queues what is sent to them before they first log in there.
    Blocking, driven by paho's `loop` (no thread); `ConnectionError` when the broker does not
    take a session within `timeout`."""
    import time

    import paho.mqtt.client as mqtt

    for user in users:
        done: list[bool] = []
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=user,
                             clean_session=False, protocol=mqtt.MQTTv311)
        client.on_connect = lambda c, *_, user=user: c.subscribe(inbox_filter(user), qos=1)
        client.on_subscribe = lambda *_, done=done: done.append(True)
        client.connect(host, port, KEEPALIVE_S)
        deadline = time.monotonic() + timeout
        try:
            while not done:
                if time.monotonic() > deadline:
                    raise ConnectionError(f"broker {host}:{port} did not take the session of "
                                          f"{user} within {timeout:.0f} s")
                client.loop(timeout=0.05)
        finally:
            client.disconnect()


def bridge_states(host: str, port: int, wait_s: float = 0.5,
                  timeout: float = 5.0) -> dict[str, bool]:
    """{bridge client id: connected} as one broker announces them (the retained notifications
    `$SYS/broker/connection/<client id>/state`, `1` up, `0` down; a bridge announces itself on
    both of its ends). Blocking; `ConnectionError` when the broker does not answer."""
    import secrets
    import time

    import paho.mqtt.client as mqtt

    states: dict[str, bool] = {}
    subscribed: list[bool] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                         client_id=f"imfault-probe-{secrets.token_hex(4)}", clean_session=True,
                         protocol=mqtt.MQTTv311)
    client.on_connect = lambda c, *_: c.subscribe("$SYS/broker/connection/+/state", qos=0)
    client.on_subscribe = lambda *_: subscribed.append(True)

    def on_message(c: Any, userdata: Any, message: Any) -> None:
        states[message.topic.split("/")[3]] = message.payload.strip() == b"1"

    client.on_message = on_message
    client.connect(host, port, KEEPALIVE_S)
    try:
        deadline = time.monotonic() + timeout
        while not subscribed:
            if time.monotonic() > deadline:
                raise ConnectionError(f"broker {host}:{port} did not answer within {timeout} s")
            client.loop(timeout=0.05)
        settle = time.monotonic() + wait_s
        while time.monotonic() < settle:
            client.loop(timeout=0.05)
    finally:
        client.disconnect()
    return states
