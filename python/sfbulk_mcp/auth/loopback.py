"""A one-shot HTTP server on 127.0.0.1 that catches the OAuth redirect of the browser.

It answers requests to other paths (a browser asks for /favicon.ico) with 404 and keeps
waiting; the first request to the callback path settles the login: its `state` must match,
then it carries either a `code` or an `error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import html
import logging
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from .errors import CallbackError
from .explain import advice_for

log = logging.getLogger("sfbulk_mcp.auth")

_MAX_REQUEST = 16 * 1024
_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family: sans-serif; margin: 3em"><h1>{title}</h1><p>{text}</p></body></html>"""


@dataclass(frozen=True)
class CallbackResult:
    """The authorization code the browser brought back."""

    code: str = field(repr=False)


class LoopbackCallbackServer:
    """Listens on 127.0.0.1:`port` (0 = any free port) for one redirect to `path`."""

    def __init__(
        self,
        *,
        expected_state: str,
        port: int = 0,
        path: str = "/OauthRedirect",
        host: str = "127.0.0.1",
    ) -> None:
        self._expected_state = expected_state
        self._port = port
        self._host = host
        self.path = path
        self._server: asyncio.Server | None = None
        self._result: asyncio.Future[CallbackResult] | None = None

    @property
    def port(self) -> int:
        """The port actually listened on (known once started)."""
        if self._server is None:
            raise RuntimeError("the callback server is not started")
        sock = self._server.sockets[0]
        port: int = sock.getsockname()[1]
        return port

    async def start(self) -> None:
        """Bind the socket; raises a clear error when the port is taken."""
        self._result = asyncio.get_running_loop().create_future()
        try:
            self._server = await asyncio.start_server(self._handle, self._host, self._port)
        except OSError as exc:
            raise CallbackError(
                f"cannot listen on {self._host}:{self._port} for the login callback "
                f"({exc.strerror}): pass another --port that your connected app allows"
            ) from None

    async def wait(self, timeout: float | None = None) -> CallbackResult:
        """The authorization code, once the browser comes back."""
        if self._result is None:
            raise RuntimeError("the callback server is not started")
        try:
            return await asyncio.wait_for(asyncio.shield(self._result), timeout)
        except TimeoutError:
            raise CallbackError(f"no login arrived within {timeout:.0f} seconds") from None

    async def close(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target = await self._read_request_target(reader)
            status, title, text = self._settle(target)
            body = _PAGE.format(title=html.escape(title), text=html.escape(text)).encode()
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n"
                f"Content-Length: {len(body)}\r\nCache-Control: no-store\r\n"
                "Connection: close\r\n\r\n"
            ).encode()
            writer.write(head + body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request_target(self, reader: asyncio.StreamReader) -> str | None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        if len(head) > _MAX_REQUEST:
            return None
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[0] not in {"GET", "HEAD"}:
            return None
        return parts[1]

    def _settle(self, target: str | None) -> tuple[str, str, str]:
        if target is None:
            return "400 Bad Request", "Bad request", "This address only accepts the login redirect."
        url = urlsplit(target)
        if url.path != self.path:
            return "404 Not Found", "Not found", "This address only accepts the login redirect."
        assert self._result is not None
        if self._result.done():
            return "409 Conflict", "Already handled", "This login was already completed."
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        state = params.get("state", "")
        if not hmac.compare_digest(state.encode(), self._expected_state.encode()):
            log.warning("login callback rejected: state does not match the login request")
            self._result.set_exception(
                CallbackError(
                    "the login callback carried a state that does not match this login "
                    "request (a stale browser tab or a forged redirect); nothing was stored"
                )
            )
            return "400 Bad Request", "Login failed", "The state parameter does not match."
        if "error" in params:
            description = params.get("error_description") or params["error"]
            advice = advice_for(params["error"], description)
            self._result.set_exception(
                CallbackError(
                    f"Salesforce refused the login: {description}"
                    + (f" ({advice})" if advice else ""),
                    error_code=params["error"],
                )
            )
            return "400 Bad Request", "Login failed", description
        code = params.get("code")
        if not code:
            self._result.set_exception(CallbackError("the login callback carried no code"))
            return "400 Bad Request", "Login failed", "No authorization code was received."
        self._result.set_result(CallbackResult(code=code))
        return "200 OK", "Logged in", "sfbulk is logged in. You can close this window."
