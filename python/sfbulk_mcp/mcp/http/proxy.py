"""`OAUTH_MODE=proxy`: an OAuth 2.1 authorization server in front of Salesforce.

MCP clients register themselves (RFC 7591), find us through RFC 8414 / RFC 9728 metadata,
and run the authorization-code flow with PKCE against *this* server. We send the user on to
Salesforce's login page (our own PKCE there), take Salesforce's tokens at `/oauth/callback`,
and hand the client short-lived tokens of our own. Salesforce tokens never leave the server:
each of our tokens maps to one user session whose Salesforce tokens are refreshed upstream
when Salesforce rejects them. Everything is kept in `Storage` (memory or Redis, encrypted).
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from sfbulk_mcp.auth.oauth import TokenGrant, request_token
from sfbulk_mcp.auth.pkce import make_verifier, s256_challenge
from sfbulk_mcp.auth.urls import oauth_endpoint
from sfbulk_mcp.salesforce.credentials import Token, TokenProvider
from sfbulk_mcp.salesforce.errors import AuthError, SalesforceError

from .storage import Storage

log = logging.getLogger("sfbulk_mcp.mcp.http")

CALLBACK_PATH = "/oauth/callback"


@dataclass(frozen=True)
class ProxySettings:
    """How to reach Salesforce and how long our own credentials live."""

    base_url: str
    login_url: str
    client_id: str
    client_secret: str | None = None
    scopes: str = "api refresh_token"
    access_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 24 * 3600
    code_ttl: int = 300
    login_ttl: int = 900

    @property
    def callback_url(self) -> str:
        return self.base_url.rstrip("/") + CALLBACK_PATH


class SalesforceOAuthProxy:
    """The `OAuthAuthorizationServerProvider` of proxy mode."""

    def __init__(self, settings: ProxySettings, storage: Storage) -> None:
        self.settings = settings
        self.storage = storage

    # -- clients (RFC 7591) -------------------------------------------------------------
    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        data = await self.storage.get("client", client_id)
        return OAuthClientInformationFull.model_validate(data) if data else None

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        await self.storage.put(
            "client", str(client_info.client_id), client_info.model_dump(mode="json"), None
        )

    # -- authorization ------------------------------------------------------------------
    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        """Remember the client's request, then send the user to Salesforce's login page."""
        login_state = secrets.token_urlsafe(24)
        verifier = make_verifier()
        await self.storage.put(
            "login",
            login_state,
            {
                "client_id": client.client_id,
                "redirect_uri": str(params.redirect_uri),
                "redirect_uri_provided_explicitly": params.redirect_uri_provided_explicitly,
                "code_challenge": params.code_challenge,
                "state": params.state,
                "scopes": params.scopes or [],
                "resource": params.resource,
                "sf_verifier": verifier,
            },
            self.settings.login_ttl,
        )
        query = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.callback_url,
            "state": login_state,
            "code_challenge": s256_challenge(verifier),
            "code_challenge_method": "S256",
        }
        if self.settings.scopes:
            query["scope"] = self.settings.scopes
        return oauth_endpoint(self.settings.login_url, "authorize") + "?" + urlencode(query)

    async def handle_callback(self, request: Request) -> Response:
        """Salesforce sends the user back here with a code: exchange it, then finish the
        client's authorization with a code of our own."""
        state = request.query_params.get("state")
        login = await self.storage.take("login", state) if state else None
        if login is None:
            return HTMLResponse("This login link expired or was already used: start again.", 400)
        error = request.query_params.get("error")
        code = request.query_params.get("code")
        if error or not code:
            description = request.query_params.get("error_description") or error or "no code"
            return RedirectResponse(
                construct_redirect_uri(
                    login["redirect_uri"],
                    error="access_denied",
                    error_description=f"Salesforce login failed: {description}",
                    state=login.get("state"),
                ),
                302,
            )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": self.settings.client_id,
            "redirect_uri": self.settings.callback_url,
            "code_verifier": login["sf_verifier"],
        }
        if self.settings.client_secret:
            form["client_secret"] = self.settings.client_secret
        try:
            grant = await request_token(self.settings.login_url, form)
        except SalesforceError as exc:
            log.warning("Salesforce refused the authorization code: %s", exc.error_code)
            return RedirectResponse(
                construct_redirect_uri(
                    login["redirect_uri"],
                    error="access_denied",
                    error_description="Salesforce refused the login",
                    state=login.get("state"),
                ),
                302,
            )
        session_id = secrets.token_urlsafe(24)
        await self._save_session(session_id, grant)
        our_code = secrets.token_urlsafe(32)
        subject = f"{grant.token.org_id or ''}/{grant.token.user_id or ''}"
        await self.storage.put(
            "code",
            our_code,
            {
                "code": our_code,
                "scopes": login["scopes"],
                "expires_at": time.time() + self.settings.code_ttl,
                "client_id": login["client_id"],
                "code_challenge": login["code_challenge"],
                "redirect_uri": login["redirect_uri"],
                "redirect_uri_provided_explicitly": login["redirect_uri_provided_explicitly"],
                "resource": login["resource"],
                "subject": subject,
                "session_id": session_id,
            },
            self.settings.code_ttl,
        )
        return RedirectResponse(
            construct_redirect_uri(login["redirect_uri"], code=our_code, state=login.get("state")),
            302,
        )

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        data = await self.storage.get("code", authorization_code)
        if data is None or data["client_id"] != client.client_id:
            return None
        return _Code.model_validate(data)

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        data = await self.storage.take("code", authorization_code.code)
        if data is None:
            raise TokenError("invalid_grant", "authorization code already used or expired")
        return await self._issue(
            client_id=str(client.client_id),
            scopes=list(data["scopes"]),
            session_id=data["session_id"],
            subject=data["subject"],
            resource=data.get("resource"),
        )

    # -- our tokens -----------------------------------------------------------------------
    async def _issue(
        self,
        *,
        client_id: str,
        scopes: list[str],
        session_id: str,
        subject: str,
        resource: str | None,
    ) -> OAuthToken:
        access = "sfm_at_" + secrets.token_urlsafe(32)
        refresh = "sfm_rt_" + secrets.token_urlsafe(32)
        now = int(time.time())
        common = {
            "client_id": client_id,
            "scopes": scopes,
            "session_id": session_id,
            "subject": subject,
            "resource": resource,
        }
        await self.storage.put(
            "access",
            access,
            {**common, "expires_at": now + self.settings.access_token_ttl},
            self.settings.access_token_ttl,
        )
        await self.storage.put(
            "refresh",
            refresh,
            {**common, "expires_at": now + self.settings.refresh_token_ttl},
            self.settings.refresh_token_ttl,
        )
        return OAuthToken(
            access_token=access,
            token_type="Bearer",
            expires_in=self.settings.access_token_ttl,
            refresh_token=refresh,
            scope=" ".join(scopes) or None,
        )

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        data = await self.storage.get("refresh", refresh_token)
        if data is None or data["client_id"] != client.client_id:
            return None
        return RefreshToken(
            token=refresh_token,
            client_id=data["client_id"],
            scopes=list(data["scopes"]),
            expires_at=int(data["expires_at"]),
            resource=data.get("resource"),
            subject=data.get("subject"),
        )

    async def exchange_refresh_token(
        self,
        client: OAuthClientInformationFull,
        refresh_token: RefreshToken,
        scopes: list[str],
    ) -> OAuthToken:
        # Refresh tokens rotate: the one just used stops working.
        data = await self.storage.take("refresh", refresh_token.token)
        if data is None:
            raise TokenError("invalid_grant", "refresh token already used or expired")
        if await self.storage.get("session", data["session_id"]) is None:
            raise TokenError("invalid_grant", "the Salesforce session ended: log in again")
        return await self._issue(
            client_id=str(client.client_id),
            scopes=scopes or list(data["scopes"]),
            session_id=data["session_id"],
            subject=data["subject"],
            resource=data.get("resource"),
        )

    async def load_access_token(self, token: str) -> AccessToken | None:
        data = await self.storage.get("access", token)
        if data is None or data["expires_at"] < time.time():
            return None
        return AccessToken(
            token=token,
            client_id=data["client_id"],
            scopes=list(data["scopes"]),
            expires_at=int(data["expires_at"]),
            resource=data.get("resource"),
            subject=data["subject"],
            claims={"session_id": data["session_id"]},
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        kind = "access" if isinstance(token, AccessToken) else "refresh"
        await self.storage.delete(kind, token.token)

    async def exchange_identity_assertion(self, *args: Any, **kwargs: Any) -> OAuthToken:
        raise TokenError("unsupported_grant_type", "identity assertions are not supported")

    # -- Salesforce sessions --------------------------------------------------------------
    async def _save_session(self, session_id: str, grant: TokenGrant) -> None:
        token = grant.token
        await self.storage.put(
            "session",
            session_id,
            {
                "access_token": token.access_token,
                "refresh_token": grant.refresh_token,
                "instance_url": token.instance_url,
                "user_id": token.user_id,
                "org_id": token.org_id,
                "id_url": token.id_url,
                "issued_at": token.issued_at,
            },
            self.settings.refresh_token_ttl,
        )

    async def provider_for(self, token: str, claims: dict[str, Any]) -> TokenProvider:
        """The upstream Salesforce session behind one of our access tokens."""
        session_id = claims.get("session_id")
        if not session_id:
            raise AuthError("this access token has no Salesforce session")
        return UpstreamSession(self, str(session_id))

    async def refresh_session(self, session_id: str, stale: Token) -> Token:
        data = await self.storage.get("session", session_id)
        if data is None:
            raise AuthError("the Salesforce session ended: authorize again")
        if data["access_token"] != stale.access_token:
            return _token(data)  # another request refreshed it already
        refresh = data.get("refresh_token")
        if not refresh:
            raise AuthError("Salesforce granted no refresh token: authorize again")
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh,
            "client_id": self.settings.client_id,
        }
        if self.settings.client_secret:
            form["client_secret"] = self.settings.client_secret
        grant = await request_token(self.settings.login_url, form)
        if grant.refresh_token is None:
            grant = TokenGrant(token=grant.token, refresh_token=refresh, scope=grant.scope)
        await self._save_session(session_id, grant)
        return grant.token

    async def session_token(self, session_id: str) -> Token:
        data = await self.storage.get("session", session_id)
        if data is None:
            raise AuthError("the Salesforce session ended: authorize again")
        return _token(data)


class _Code(AuthorizationCode):
    session_id: str


def _token(data: dict[str, Any]) -> Token:
    return Token(
        access_token=data["access_token"],
        instance_url=data["instance_url"],
        issued_at=float(data.get("issued_at") or time.time()),
        user_id=data.get("user_id"),
        org_id=data.get("org_id"),
        id_url=data.get("id_url"),
    )


class UpstreamSession:
    """A `TokenProvider` over one stored Salesforce session (shared by replicas)."""

    def __init__(self, proxy: SalesforceOAuthProxy, session_id: str) -> None:
        self._proxy = proxy
        self._session_id = session_id
        self._lock = anyio.Lock()

    async def token(self) -> Token:
        return await self._proxy.session_token(self._session_id)

    async def refresh(self, stale: Token) -> Token:
        async with self._lock:
            return await self._proxy.refresh_session(self._session_id, stale)


__all__ = ["AuthorizeError", "ProxySettings", "SalesforceOAuthProxy", "UpstreamSession"]
