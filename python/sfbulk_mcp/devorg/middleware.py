"""ASGI layers in front of every devorg route: faults, authentication, limits, gzip bodies.

Plain ASGI (not Starlette's BaseHTTPMiddleware) so that streamed Bulk results pass through
untouched and the per-request overhead stays a few microseconds.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import DevOrgError
from .responses import error_response, invalid_session, not_found, request_limit_exceeded
from .state import OrgState

_VERSIONED = re.compile(r"^/services/data/v([^/]+)(?:/|$)")
CONTROL_PREFIX = "/_devorg"


def bearer_token(scope: Scope) -> str | None:
    """The access token of `Authorization: Bearer …` (or the older `OAuth …`) header."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, token = text.partition(" ")
            if scheme.lower() in ("bearer", "oauth") and token.strip():
                return token.strip()
            return None
    return None


def _fault_response(status: int) -> Any:
    if status == 403:
        return request_limit_exceeded()
    if status == 429:
        return error_response(429, "REQUEST_LIMIT_EXCEEDED",
                              "ConcurrentPerOrgLongTxn Limit exceeded.",
                              headers={"Retry-After": "1"})
    if status == 503:
        return error_response(503, "SERVER_UNAVAILABLE",
                              "Server temporarily unavailable. Please try again later.",
                              headers={"Retry-After": "1"})
    return error_response(status, "UNKNOWN_EXCEPTION",
                          "An unexpected error occurred. Please include this ErrorId if you "
                          "contact support: 1234567890-12345 (-1234567890)")


class ConnectionDropMiddleware:
    """Cuts the TCP stream after K body bytes when a drop fault is armed (outermost layer)."""

    def __init__(self, app: ASGIApp, state: OrgState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        after = self.state.faults.take_drop_fault(scope["path"])
        if after is None:
            await self.app(scope, receive, send)
            return
        sent = 0
        cut = False

        async def cutting_send(message: Message) -> None:
            nonlocal sent, cut
            if cut:
                return
            if message["type"] == "http.response.body":
                body: bytes = message.get("body", b"")
                if sent + len(body) >= after and (body or not message.get("more_body")):
                    part = body[: after - sent]
                    if part:
                        await send({"type": "http.response.body", "body": part,
                                    "more_body": True})
                    # Returning without finishing the response makes the server close the
                    # socket: the client sees fewer bytes than Content-Length announced.
                    cut = True
                    return
                sent += len(body)
            await send(message)

        await self.app(scope, receive, cutting_send)


class ApiMiddleware:
    """Injected request faults, sessions, API usage counting and `Sforce-Limit-Info`."""

    def __init__(self, app: ASGIApp, state: OrgState) -> None:
        self.app = app
        self.state = state
        self._versions = frozenset(state.config.api_versions)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            # Salesforce ignores a trailing slash; several clients send one.
            path = path.rstrip("/") or "/"
            scope = {**scope, "path": path}
        if path.startswith(CONTROL_PREFIX):
            await self.app(scope, receive, send)
            return
        state = self.state
        if path.startswith(("/services/data", "/services/apexrest")):
            # Every API answer carries the usage header, injected faults included.
            send = self._with_limit_header(send)
        status = state.faults.take_request_fault(path)
        if status is not None:
            await _fault_response(status)(scope, receive, send)
            return
        if _has_gzip_body(scope):
            receive = _gunzip_receive(receive)
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"]
                                          if k not in (b"content-encoding", b"content-length")]}
        versioned = _VERSIONED.match(path)
        is_api = versioned is not None or path.startswith("/services/apexrest")
        if not is_api:
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        session = state.auth.session(token, state.org_id) if token else None
        if session is None:
            await invalid_session()(scope, receive, send)
            return
        if versioned is not None and versioned.group(1) not in self._versions:
            await not_found()(scope, receive, send)
            return
        if not state.limits.count_request():
            await request_limit_exceeded()(scope, receive, send)
            return
        scope = {**scope, "state": {**scope.get("state", {}), "session": session}}
        await self.app(scope, receive, send)

    def _with_limit_header(self, send: Send) -> Send:
        limits = self.state.limits

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"sforce-limit-info", limits.header_value().encode()))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_header


def _has_gzip_body(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"content-encoding" and value.strip().lower() == b"gzip":
            return True
    return False


def _gunzip_receive(receive: Receive) -> Receive:
    """Decompress a gzip request body chunk by chunk as the route reads it."""
    inflater = zlib.decompressobj(wbits=31)

    async def gunzip() -> Message:
        message = await receive()
        if message["type"] == "http.request":
            try:
                data = inflater.decompress(message.get("body", b""))
                if not message.get("more_body", False):
                    data += inflater.flush()
            except zlib.error:
                raise DevOrgError("INVALID_REQUEST",
                                  "The request says Content-Encoding: gzip but its body is "
                                  "not gzip data", status=400) from None
            message = {**message, "body": data}
        return message

    return gunzip
