"""Streaming API subscriptions: CometD (Bayeux) long polling at `/cometd/{version}`.

Used for platform events, such as `BulkApi2JobEvent` (query job states and partial results).
A subscription hands over each event's payload in order; it never retries behind the caller's
back: when the stream breaks (an error, a lost client, a refused subscription), `next` raises
`StreamingUnavailable` and the caller goes on without events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Self

from ._http import HttpCore
from .errors import SalesforceError

logger = logging.getLogger("sfbulk_mcp.salesforce")

# How long `close` waits for the goodbye (`/meta/disconnect`).
_DISCONNECT_SECONDS = 5.0


class StreamingUnavailable(Exception):
    """The org offers no such subscription (not enabled, no permission), or it broke."""


class EventSubscription:
    """One channel, long-polled in the background.

    >>> async with EventSubscription(core, "66.0", "/event/BulkApi2JobEvent") as events:
    ...     payload = await events.next(timeout=5.0)
    """

    def __init__(self, core: HttpCore, api_version: str, channel: str, replay: int = -1) -> None:
        self._core = core
        self._path = f"/cometd/{api_version}"
        self.channel = channel
        self._replay = replay
        self._client_id: str | None = None
        self._queue: asyncio.Queue[tuple[int | None, dict[str, Any]] | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.error: StreamingUnavailable | None = None
        self.last_replay: int | None = None

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Handshake and subscribe (events published from now on: replay -1 by default)."""
        shake = await self._exchange(
            {
                "channel": "/meta/handshake",
                "version": "1.0",
                "minimumVersion": "1.0",
                "supportedConnectionTypes": ["long-polling"],
            }
        )
        client_id = shake.get("clientId")
        if not isinstance(client_id, str) or not client_id:
            raise StreamingUnavailable("the handshake gave no client id")
        self._client_id = client_id
        await self._exchange(
            {
                "channel": "/meta/subscribe",
                "clientId": client_id,
                "subscription": self.channel,
                "ext": {"replay": {self.channel: self._replay}},
            }
        )
        self._task = asyncio.create_task(self._poll(), name=f"cometd {self.channel}")

    async def next(self, timeout: float) -> dict[str, Any] | None:
        """The next event's payload, or None when none came within `timeout` seconds."""
        if self.error is not None and self._queue.empty():
            raise self.error
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if item is None:
            assert self.error is not None
            raise self.error
        self.last_replay, payload = item
        return payload

    async def close(self) -> None:
        """Stop polling and say goodbye (best effort)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        if self._client_id is not None:
            client_id, self._client_id = self._client_id, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    self._core.send(
                        "POST",
                        self._path,
                        json=[{"channel": "/meta/disconnect", "clientId": client_id}],
                    ),
                    _DISCONNECT_SECONDS,
                )

    async def _poll(self) -> None:
        try:
            while True:
                for message in await self._post(
                    [
                        {
                            "channel": "/meta/connect",
                            "clientId": self._client_id,
                            "connectionType": "long-polling",
                        }
                    ]
                ):
                    channel = message.get("channel")
                    if channel == self.channel:
                        data = message.get("data") or {}
                        replay = (data.get("event") or {}).get("replayId")
                        payload = data.get("payload") or {}
                        self._queue.put_nowait((replay, payload))
                    elif channel == "/meta/connect" and not message.get("successful", False):
                        # The server forgot this client (or wants a new handshake): events
                        # published meanwhile may be lost, so the stream ends here.
                        raise StreamingUnavailable(
                            f"the event stream broke: {message.get('error') or 'connect refused'}"
                        )
        except asyncio.CancelledError:
            raise
        except StreamingUnavailable as exc:
            self.error = exc
        except (SalesforceError, OSError, ValueError) as exc:
            self.error = StreamingUnavailable(f"the event stream broke: {exc}")
        self._queue.put_nowait(None)

    async def _exchange(self, message: dict[str, Any]) -> dict[str, Any]:
        """Send one meta message; its reply, or StreamingUnavailable when refused."""
        channel = message["channel"]
        for reply in await self._post([message]):
            if reply.get("channel") == channel:
                if not reply.get("successful", False):
                    raise StreamingUnavailable(
                        f"{channel} refused: {reply.get('error') or 'no reason given'}"
                    )
                return reply
        raise StreamingUnavailable(f"no answer to {channel}")

    async def _post(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        try:
            response = await self._core.send("POST", self._path, json=messages)
            body = response.json()
        except SalesforceError as exc:
            raise StreamingUnavailable(f"the Streaming API answered {exc}") from exc
        except ValueError as exc:
            raise StreamingUnavailable(
                "the Streaming API answered something else than JSON"
            ) from exc
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list):
            raise StreamingUnavailable("the Streaming API answered something else than a list")
        return [m for m in body if isinstance(m, dict)]
