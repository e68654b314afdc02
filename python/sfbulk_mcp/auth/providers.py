"""Token providers for every login method that can renew its own access token.

All of them share one behaviour (`RenewingTokenProvider`): hand out the current token, renew
it shortly BEFORE its estimated expiry, renew it when the client reports it stale (a 401), and
make any number of concurrent callers share one renewal. Subclasses only say how to get a new
grant from the token endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import httpx2
from joserfc import jwt
from joserfc.jwk import RSAKey

from ..salesforce.credentials import Token
from ..salesforce.errors import AuthError
from .errors import LoginRequiredError, OrgStoreError
from .oauth import DEFAULT_SESSION_TIMEOUT, TokenGrant, request_token
from .urls import jwt_audience, normalize_login_url, require_my_domain

log = logging.getLogger("sfbulk_mcp.auth")

# Renew this long before the estimated expiry, capped at a tenth of the token's lifetime so
# that short test sessions do not renew on every call.
DEFAULT_REFRESH_MARGIN = 300.0
JWT_LIFETIME = 170  # Salesforce rejects assertions whose exp is more than 3 minutes away

GrantCallback = Callable[[TokenGrant], None]


class RenewingTokenProvider(ABC):
    """A `TokenProvider` that renews itself; subclasses implement `_grant`."""

    method: str = "unknown"

    def __init__(
        self,
        *,
        token: Token | None = None,
        refresh_margin: float | None = None,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        on_grant: GrantCallback | None = None,
        http: httpx2.AsyncClient | None = None,
    ) -> None:
        self._token = token
        self._refresh_margin = refresh_margin
        self._session_timeout = session_timeout
        self._on_grant = on_grant
        self._http = http
        self._lock = asyncio.Lock()
        self.renewals = 0  # how many grants this provider fetched (for diagnostics and tests)

    @property
    def current(self) -> Token | None:
        """The token held now, without renewing it."""
        return self._token

    async def token(self) -> Token:
        """The token to use now, renewed first when it is about to expire."""
        current = self._token
        if current is not None and not self._due(current):
            return current
        return await self._renew(current)

    async def refresh(self, stale: Token) -> Token:
        """A new token after `stale` was rejected; concurrent callers share one renewal."""
        return await self._renew(stale)

    async def login(self) -> TokenGrant:
        """Fetch a new grant now, whatever the current token (used by `sfbulk login`)."""
        async with self._lock:
            grant = await self._grant()
            self._token = grant.token
            self.renewals += 1
            return grant

    async def _renew(self, stale: Token | None) -> Token:
        async with self._lock:
            current = self._token
            # Another caller renewed while we waited, or the stale token is not ours.
            if (
                current is not None
                and not self._due(current)
                and (stale is None or current.access_token != stale.access_token)
            ):
                return current
            grant = await self._grant()
            self._token = grant.token
            self.renewals += 1
            log.debug(
                "%s: obtained a new access token for %s", self.method, grant.token.instance_url
            )
            if self._on_grant is not None:
                try:
                    await asyncio.to_thread(self._on_grant, grant)
                except Exception as exc:  # noqa: BLE001 - the session works; only the copy is stale
                    log.error("could not save the renewed token: %s", exc)
            return grant.token

    def _due(self, token: Token) -> bool:
        if token.expires_at is None:
            return False
        lifetime = max(token.expires_at - token.issued_at, 0.0)
        margin = self._refresh_margin
        if margin is None:
            margin = min(DEFAULT_REFRESH_MARGIN, lifetime / 10)
        return token.expires_within(margin)

    async def _request(
        self, login_url: str, form: dict[str, str], username: str | None
    ) -> TokenGrant:
        return await request_token(
            login_url,
            form,
            http=self._http,
            session_timeout=self._session_timeout,
            username=username,
        )

    @abstractmethod
    async def _grant(self) -> TokenGrant:
        """Ask the token endpoint for a new access token."""


class RefreshTokenProvider(RenewingTokenProvider):
    """Renews with the `refresh_token` grant; keeps a rotated refresh token at once."""

    method = "refresh_token"

    def __init__(
        self,
        *,
        login_url: str,
        client_id: str,
        refresh_token: str,
        client_secret: str | None = None,
        alias: str | None = None,
        username: str | None = None,
        token: Token | None = None,
        refresh_margin: float | None = None,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        on_grant: GrantCallback | None = None,
        reload_refresh_token: Callable[[], str | None] | None = None,
        http: httpx2.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            token=token,
            refresh_margin=refresh_margin,
            session_timeout=session_timeout,
            on_grant=on_grant,
            http=http,
        )
        self._login_url = normalize_login_url(login_url)
        self._client_id = client_id
        self._client_secret = client_secret
        self._refresh_token = refresh_token
        self._alias = alias
        self._username = username
        # Another process using the same stored org may have rotated the refresh token.
        self._reload = reload_refresh_token

    @property
    def refresh_token(self) -> str:
        """The refresh token in use (the newest one when the org rotates them)."""
        return self._refresh_token

    async def _grant(self) -> TokenGrant:
        try:
            grant = await self._grant_with(self._refresh_token)
        except AuthError as exc:
            newer = (
                await self._stored_refresh_token() if exc.error_code == "invalid_grant" else None
            )
            if newer and newer != self._refresh_token:
                self._refresh_token = newer
                return await self._grant()
            if exc.error_code in {"invalid_grant", "invalid_token", "inactive_user"}:
                raise LoginRequiredError(
                    f"the refresh token was revoked or has expired ({exc.message})",
                    alias=self._alias,
                    error_code=exc.error_code,
                    status=exc.status,
                    method=exc.method,
                    url=exc.url,
                ) from None
            raise
        # Without rotation Salesforce omits the refresh token: the old one stays valid.
        if grant.refresh_token is not None:
            self._refresh_token = grant.refresh_token
        return grant

    async def _stored_refresh_token(self) -> str | None:
        if self._reload is None:
            return None
        try:
            return await asyncio.to_thread(self._reload)
        except OrgStoreError:  # the org was removed meanwhile: nothing newer to try
            return None

    async def _grant_with(self, refresh_token: str) -> TokenGrant:
        form = {
            "grant_type": "refresh_token",
            "client_id": self._client_id,
            "refresh_token": refresh_token,
        }
        if self._client_secret:
            form["client_secret"] = self._client_secret
        return await self._request(self._login_url, form, self._username)


class JwtBearerProvider(RenewingTokenProvider):
    """OAuth 2.0 JWT bearer flow: a fresh RS256 assertion for every renewal."""

    method = "jwt"

    def __init__(
        self,
        *,
        login_url: str,
        client_id: str,
        username: str,
        private_key: bytes | str | None = None,
        key_file: str | Path | None = None,
        audience: str | None = None,
        token: Token | None = None,
        refresh_margin: float | None = None,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        on_grant: GrantCallback | None = None,
        http: httpx2.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            token=token,
            refresh_margin=refresh_margin,
            session_timeout=session_timeout,
            on_grant=on_grant,
            http=http,
        )
        self._login_url = normalize_login_url(login_url)
        self._client_id = client_id
        self._username = username
        self._audience = audience or jwt_audience(self._login_url)
        self._key = load_rsa_key(private_key=private_key, key_file=key_file)

    @property
    def username(self) -> str:
        """The user the assertions name."""
        return self._username

    @property
    def audience(self) -> str:
        """The `aud` claim sent in assertions."""
        return self._audience

    @property
    def token_url(self) -> str:
        """Where assertions are posted."""
        return f"{self._login_url}/services/oauth2/token"

    def assertion(self, *, now: float | None = None) -> str:
        """A signed JWT bearer assertion (iss = client id, sub = username, short exp)."""
        issued = int(now if now is not None else time.time())
        claims = {
            "iss": self._client_id,
            "sub": self._username,
            "aud": self._audience,
            "exp": issued + JWT_LIFETIME,
        }
        return jwt.encode({"alg": "RS256", "typ": "JWT"}, claims, self._key)

    async def _grant(self) -> TokenGrant:
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": self.assertion(),
        }
        return await self._request(self._login_url, form, self._username)


def load_rsa_key(*, private_key: bytes | str | None, key_file: str | Path | None) -> RSAKey:
    """An RSA private key from PEM text or a PEM file, with a clear error when it is not one."""
    if private_key is None:
        if key_file is None:
            raise AuthError("the JWT bearer flow needs a private key: pass --jwt-key-file")
        path = Path(key_file).expanduser()
        try:
            private_key = path.read_bytes()
        except OSError as exc:
            raise AuthError(f"cannot read the JWT key file {path}: {exc.strerror}") from None
    try:
        key = RSAKey.import_key(private_key)
    except (ValueError, TypeError):
        raise AuthError(
            "the JWT key is not an RSA private key in PEM format (expected "
            "-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----)"
        ) from None
    if not key.is_private:
        raise AuthError("the JWT key file holds a public key: the flow needs the private key")
    return key


class ClientCredentialsProvider(RenewingTokenProvider):
    """OAuth 2.0 client credentials flow (machine to machine; needs the My Domain URL)."""

    method = "client_credentials"

    def __init__(
        self,
        *,
        login_url: str,
        client_id: str,
        client_secret: str,
        token: Token | None = None,
        refresh_margin: float | None = None,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        on_grant: GrantCallback | None = None,
        http: httpx2.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            token=token,
            refresh_margin=refresh_margin,
            session_timeout=session_timeout,
            on_grant=on_grant,
            http=http,
        )
        self._login_url = require_my_domain(login_url, "client credentials")
        self._client_id = client_id
        self._client_secret = client_secret

    async def _grant(self) -> TokenGrant:
        form = {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }
        return await self._request(self._login_url, form, None)


class PasswordProvider(RenewingTokenProvider):
    """OAuth 2.0 username-password flow; the security token is appended to the password."""

    method = "password"

    def __init__(
        self,
        *,
        login_url: str,
        client_id: str,
        username: str,
        password: str,
        security_token: str = "",
        client_secret: str | None = None,
        token: Token | None = None,
        refresh_margin: float | None = None,
        session_timeout: float = DEFAULT_SESSION_TIMEOUT,
        on_grant: GrantCallback | None = None,
        http: httpx2.AsyncClient | None = None,
    ) -> None:
        super().__init__(
            token=token,
            refresh_margin=refresh_margin,
            session_timeout=session_timeout,
            on_grant=on_grant,
            http=http,
        )
        self._login_url = normalize_login_url(login_url)
        self._client_id = client_id
        self._client_secret = client_secret
        self._username = username
        self._password = password
        self._security_token = security_token

    @property
    def username(self) -> str:
        """The user who logs in."""
        return self._username

    async def _grant(self) -> TokenGrant:
        form = {
            "grant_type": "password",
            "client_id": self._client_id,
            "username": self._username,
            "password": self._password + self._security_token,
        }
        if self._client_secret:
            form["client_secret"] = self._client_secret
        return await self._request(self._login_url, form, self._username)
