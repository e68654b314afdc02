"""`/services/apexrest/**`: custom REST endpoints that tests register as Python handlers."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from .errors import DevOrgError
from .responses import json_response
from .rest import parse_json
from .sessions import Session


@dataclass
class ApexRestRequest:
    """What an Apex REST handler sees (like Apex's `RestContext.request`)."""

    method: str
    path: str  # the part after /services/apexrest, with a leading slash
    params: QueryParams
    headers: Mapping[str, str]
    body: bytes
    session: Session
    path_params: dict[str, str]

    def json(self) -> Any:
        """The body parsed as JSON."""
        return parse_json(self.body)


ApexHandler = Callable[[ApexRestRequest], Any]


def _compile(path: str) -> re.Pattern[str]:
    """`/Account/*` matches any tail (as `@RestResource(urlMapping='/Account/*')`);
    `{name}` segments are captured into `path_params`."""
    path = "/" + path.strip("/")
    pattern = ""
    for piece in re.split(r"(\{[A-Za-z_][A-Za-z0-9_]*\}|\*)", path):
        if piece == "*":
            pattern += ".*"
        elif piece.startswith("{") and piece.endswith("}"):
            pattern += f"(?P<{piece[1:-1]}>[^/]+)"
        else:
            pattern += re.escape(piece)
    return re.compile(pattern + r"/?\Z", re.IGNORECASE)


class ApexRestRegistry:
    """Handlers by method and URL mapping; a handler returns the JSON body (or a Response,
    or `(status, body)`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._handlers: list[tuple[str, re.Pattern[str], ApexHandler]] = []

    def register(self, method: str, path: str, handler: ApexHandler) -> None:
        """Serve `method` requests to `/services/apexrest{path}` with `handler`."""
        with self._lock:
            self._handlers.append((method.upper(), _compile(path), handler))

    def clear(self) -> None:
        with self._lock:
            self._handlers.clear()

    def find(self, method: str, path: str) -> tuple[ApexHandler, dict[str, str]] | None:
        with self._lock:
            handlers = list(self._handlers)
        for registered_method, pattern, handler in reversed(handlers):
            match = pattern.match(path)
            if match and registered_method in (method, "*"):
                return handler, match.groupdict()
        return None

    async def endpoint(self, request: Request) -> Response:
        path = "/" + request.path_params.get("path", "").strip("/")
        found = self.find(request.method, path)
        if found is None:
            raise DevOrgError("NOT_FOUND", f"Could not find a match for URL {path}",
                              status=404)
        handler, path_params = found
        apex_request = ApexRestRequest(
            request.method, path, request.query_params,
            {k.lower(): v for k, v in request.headers.items()}, await request.body(),
            request.state.session, path_params)
        result = await run_in_threadpool(handler, apex_request)
        if isinstance(result, Response):
            return result
        if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], int):
            return json_response(result[1], result[0])
        if result is None:
            return Response(status_code=200)
        return json_response(result, 200)
