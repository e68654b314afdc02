"""The Streaming API: CometD (Bayeux 1.0) long polling at `/cometd/{version}`, for the
platform events the devorg publishes.

Only what a platform-event subscriber uses: `/meta/handshake`, `/meta/subscribe` (with the
`replay` extension: -1 for new events, -2 for every retained one, or a replay id to resume
after), `/meta/connect` (long polling), `/meta/unsubscribe` and `/meta/disconnect`. Events are
kept in memory, the latest `RETAINED` of them, and delivered as Salesforce delivers them:
`{"channel", "data": {"schema", "payload", "event": {"replayId", "EventUuid"}}}`.

The only channel is `/event/BulkApi2JobEvent` (query job states and partial results), and only
when the org was started with `streaming_events` — as in a real org, where the feature is a
beta an admin turns on; other channels are refused like unknown ones.
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sfbulk_mcp.devorg.middleware import bearer_token
from sfbulk_mcp.devorg.state import OrgState

BULK_JOB_CHANNEL = "/event/BulkApi2JobEvent"
RETAINED = 10_000
# How long `/meta/connect` holds a request without events (Salesforce: 110 s).
LONG_POLL_SECONDS = 20.0
# Long polls waiting at once.
LONG_POLLS = 100
# A client that has not connected for this long is forgotten.
CLIENT_TTL_SECONDS = 300.0
_SCHEMA_ID = "sfbulkDevorgBulkApi2JobEvent"


@dataclass
class _Client:
    cursors: dict[str, int] = field(default_factory=dict)  # channel → next replay id to send
    seen: float = field(default_factory=time.monotonic)


class EventHub:
    """Retained events and the clients polling for them (thread-safe: jobs publish from
    their worker threads, long polls wait in the server's)."""

    def __init__(self, channels: frozenset[str] = frozenset({BULK_JOB_CHANNEL})) -> None:
        self.channels = channels
        self._events: deque[tuple[int, str, dict[str, Any]]] = deque(maxlen=RETAINED)
        self._replay = itertools.count(1)
        self._last = 0
        self._clients: dict[str, _Client] = {}
        self._changed = threading.Condition()
        self._closed = False
        # Long polls wait on threads of their own, not on those that serve the API.
        self.limiter: anyio.CapacityLimiter | None = None

    @classmethod
    def of(cls, state: OrgState) -> EventHub | None:
        """The org's hub, made on first use; None when the org publishes no events."""
        if not state.config.streaming_events:
            return None
        hub: EventHub | None = state.extras.get("event_hub")
        if hub is None:
            hub = state.extras.setdefault("event_hub", cls())
        return hub

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release every waiting long poll (the org is stopping)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def publish(self, channel: str, payload: dict[str, Any]) -> int:
        """Add an event; returns its replay id."""
        with self._changed:
            replay = next(self._replay)
            self._last = replay
            self._events.append((replay, channel, payload))
            self._changed.notify_all()
        return replay

    def handshake(self) -> str:
        with self._changed:
            self._forget_idle()
            client_id = secrets.token_hex(12)
            self._clients[client_id] = _Client()
        return client_id

    def known(self, client_id: str) -> bool:
        with self._changed:
            return client_id in self._clients

    def subscribe(self, client_id: str, channel: str, replay: int) -> None:
        """Deliver `channel`'s events after `replay` (-1: only new ones, -2: all retained)."""
        with self._changed:
            client = self._clients[client_id]
            if replay == -1:
                client.cursors[channel] = self._last + 1
            elif replay == -2:
                client.cursors[channel] = 0
            else:
                client.cursors[channel] = replay + 1

    def unsubscribe(self, client_id: str, channel: str) -> None:
        with self._changed:
            self._clients[client_id].cursors.pop(channel, None)

    def disconnect(self, client_id: str) -> None:
        with self._changed:
            self._clients.pop(client_id, None)
            self._changed.notify_all()

    def wait(self, client_id: str, timeout: float) -> list[tuple[int, str, dict[str, Any]]]:
        """The client's undelivered events, waiting up to `timeout` s for the first one."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                client = self._clients.get(client_id)
                if client is None or self._closed:
                    return []
                client.seen = time.monotonic()
                ready = [
                    event
                    for event in self._events
                    if event[0] >= client.cursors.get(event[1], self._last + 1)
                ]
                if ready:
                    for replay, channel, _ in ready:
                        client.cursors[channel] = replay + 1
                    return ready
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._changed.wait(left)

    def _forget_idle(self) -> None:
        cutoff = time.monotonic() - CLIENT_TTL_SECONDS
        for client_id in [c for c, client in self._clients.items() if client.seen < cutoff]:
            del self._clients[client_id]


def streaming_routes(state: OrgState) -> list[BaseRoute]:
    """`/cometd/{version}`: the Bayeux endpoint."""

    async def cometd(request: Request) -> Response:
        token = bearer_token(request.scope)
        if not token or state.auth.session(token, state.org_id) is None:
            return Response(
                orjson.dumps([{"errorCode": "INVALID_SESSION_ID",
                               "message": "Session expired or invalid"}]),
                status_code=401, media_type="application/json",
            )
        if request.path_params["version"] not in state.config.api_versions:
            return Response(status_code=404)
        try:
            messages = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return Response(b"[]", status_code=400, media_type="application/json")
        if isinstance(messages, dict):
            messages = [messages]
        hub = EventHub.of(state)
        replies: list[dict[str, Any]] = []
        for message in messages:
            if isinstance(message, dict):
                replies.extend(await _answer(hub, message))
        return Response(orjson.dumps(replies), media_type="application/json")

    return [Route("/cometd/{version}", cometd, methods=["POST"])]


async def _answer(hub: EventHub | None, message: dict[str, Any]) -> list[dict[str, Any]]:
    channel = str(message.get("channel", ""))
    reply: dict[str, Any] = {"channel": channel}
    if "id" in message:
        reply["id"] = message["id"]
    client_id = str(message.get("clientId", ""))
    if channel == "/meta/handshake":
        if hub is None:
            return [{**reply, "successful": False,
                     "error": "403::Streaming API is not enabled for this organization"}]
        return [{**reply, "successful": True, "version": "1.0", "minimumVersion": "1.0",
                 "clientId": hub.handshake(), "supportedConnectionTypes": ["long-polling"],
                 "advice": {"interval": 0, "timeout": int(LONG_POLL_SECONDS * 1000),
                            "reconnect": "retry"}}]
    if hub is None or not hub.known(client_id):
        return [{**reply, "successful": False, "error": "403::Unknown client",
                 "advice": {"reconnect": "handshake", "interval": 0}}]
    reply["clientId"] = client_id
    if channel == "/meta/subscribe":
        subscription = str(message.get("subscription", ""))
        reply["subscription"] = subscription
        if subscription not in hub.channels:
            return [{**reply, "successful": False,
                     "error": f"403:denied_by_security_policy:create_denied:{subscription}"}]
        replay = (message.get("ext") or {}).get("replay", {}).get(subscription, -1)
        hub.subscribe(client_id, subscription, int(replay))
        return [{**reply, "successful": True}]
    if channel == "/meta/unsubscribe":
        subscription = str(message.get("subscription", ""))
        hub.unsubscribe(client_id, subscription)
        return [{**reply, "subscription": subscription, "successful": True}]
    if channel == "/meta/disconnect":
        hub.disconnect(client_id)
        return [{**reply, "successful": True}]
    if channel == "/meta/connect":
        if hub.limiter is None:
            hub.limiter = anyio.CapacityLimiter(LONG_POLLS)
        events = await anyio.to_thread.run_sync(
            hub.wait, client_id, LONG_POLL_SECONDS, limiter=hub.limiter
        )
        if hub.closed:
            return [{**reply, "successful": False, "error": "403::The org is stopping",
                     "advice": {"reconnect": "none"}}]
        delivered = [
            {"channel": event_channel, "data": {
                "schema": _SCHEMA_ID,
                "payload": payload,
                "event": {"replayId": replay, "EventUuid": str(uuid.uuid4())},
            }}
            for replay, event_channel, payload in events
        ]
        return [*delivered, {**reply, "successful": True,
                             "advice": {"reconnect": "retry", "interval": 0,
                                        "timeout": int(LONG_POLL_SECONDS * 1000)}}]
    return [{**reply, "successful": False, "error": f"400::Unknown channel {channel}"}]
