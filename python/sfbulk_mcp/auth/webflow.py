"""The OAuth 2.0 web server flow with PKCE (S256) on a loopback redirect.

    async with WebServerFlow(login_url=..., client_id=...) as flow:
        open_browser(flow.authorize_url)
        grant = await flow.complete(timeout=300)

The flow listens on 127.0.0.1 before the URL is shown, so the browser can never come back
too early; `complete` waits for the redirect, checks `state`, and exchanges the code with
the verifier.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self
from urllib.parse import urlencode, urlsplit

import httpx2

from ..salesforce.errors import AuthError
from ..salesforce.hosts import is_loopback_host
from .errors import LoginUrlError
from .explain import explain
from .loopback import LoopbackCallbackServer
from .oauth import DEFAULT_SESSION_TIMEOUT, TokenGrant, request_token
from .pkce import make_state, make_verifier, s256_challenge
from .urls import normalize_login_url, oauth_endpoint

DEFAULT_CALLBACK_PORT = 1717
DEFAULT_CALLBACK_PATH = "/OauthRedirect"


class WebServerFlow:
    """One browser login: authorize URL, loopback callback, code exchange."""

    def __init__(
        self,
        *,
        login_url: str,
        client_id: str,
        client_secret: str | None = None,
        port: int = DEFAULT_CALLBACK_PORT,
        redirect_uri: str | None = None,
        scope: str | None = None,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        http: httpx2.AsyncClient | None = None,
    ) -> None:
        self.login_url = normalize_login_url(login_url)
        self.client_id = client_id
        self._client_secret = client_secret
        self._scope = scope
        self._session_timeout = session_timeout
        self._http = http
        self._verifier = make_verifier()
        self.state = make_state()
        self._redirect_template = redirect_uri
        path = DEFAULT_CALLBACK_PATH
        if redirect_uri is not None:
            parts = urlsplit(redirect_uri)
            if parts.scheme != "http" or not is_loopback_host(parts.hostname or ""):
                raise LoginUrlError(
                    f"the redirect URI {redirect_uri!r} must be an http:// loopback address "
                    "(http://127.0.0.1:PORT/PATH or http://localhost:PORT/PATH)"
                )
            port = parts.port or 80
            path = parts.path or "/"
        self._server = LoopbackCallbackServer(expected_state=self.state, port=port, path=path)
        self.redirect_uri = ""
        self.authorize_url = ""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def start(self) -> None:
        """Listen for the callback and build the URL the user must open."""
        await self._server.start()
        if self._redirect_template is not None:
            self.redirect_uri = self._redirect_template
        else:
            self.redirect_uri = f"http://127.0.0.1:{self._server.port}{self._server.path}"
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "code_challenge": s256_challenge(self._verifier),
            "code_challenge_method": "S256",
            "state": self.state,
        }
        if self._scope:
            params["scope"] = self._scope
        self.authorize_url = f"{oauth_endpoint(self.login_url, 'authorize')}?{urlencode(params)}"

    async def close(self) -> None:
        """Stop listening for the callback."""
        await self._server.close()

    async def wait_for_code(self, timeout: float | None = None) -> str:
        """The authorization code once the browser comes back (state already checked)."""
        result = await self._server.wait(timeout)
        return result.code

    async def exchange(self, code: str, *, code_verifier: str | None = None) -> TokenGrant:
        """Trade the authorization code (and the PKCE verifier) for tokens."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "code_verifier": code_verifier if code_verifier is not None else self._verifier,
        }
        if self._client_secret:
            form["client_secret"] = self._client_secret
        try:
            return await request_token(
                self.login_url, form, http=self._http, session_timeout=self._session_timeout
            )
        except AuthError as exc:
            raise explain(
                AuthError(
                    f"Salesforce refused the authorization code: {exc.message}",
                    error_code=exc.error_code,
                    status=exc.status,
                    method=exc.method,
                    url=exc.url,
                )
            ) from None

    async def complete(self, timeout: float | None = None) -> TokenGrant:
        """Wait for the redirect and exchange its code."""
        code = await self.wait_for_code(timeout)
        return await self.exchange(code)
