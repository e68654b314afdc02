"""Log in with any flow and save the org: what `sfbulk login` does, without the CLI."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx2

from ..salesforce.errors import SalesforceError
from .oauth import DEFAULT_SESSION_TIMEOUT, TokenGrant, fetch_userinfo, revoke_token
from .providers import ClientCredentialsProvider, JwtBearerProvider, PasswordProvider
from .store import OrgRecord, OrgSecrets, OrgStore
from .urls import normalize_login_url
from .webflow import DEFAULT_CALLBACK_PORT, WebServerFlow

log = logging.getLogger("sfbulk_mcp.auth")


def _ignore_result(task: asyncio.Future[None]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not warn about it


@dataclass(frozen=True)
class LoginResult:
    """The org that was saved."""

    record: OrgRecord


async def _identify(
    grant: TokenGrant, http: httpx2.AsyncClient | None
) -> tuple[str | None, str | None, str | None]:
    """(username, user id, org id) of the token's user, from userinfo when it answers."""
    token = grant.token
    try:
        info = await fetch_userinfo(token.instance_url, token.access_token, http=http)
    except SalesforceError as exc:
        log.warning("userinfo did not answer (%s); the username stays unknown", exc.error_code)
        return token.username, token.user_id, token.org_id
    username = info.get("preferred_username") or token.username
    return (
        str(username) if username else None,
        str(info.get("user_id") or token.user_id or "") or None,
        str(info.get("organization_id") or token.org_id or "") or None,
    )


async def save_grant(
    store: OrgStore,
    grant: TokenGrant,
    *,
    alias: str | None,
    method: str,
    login_url: str,
    client_id: str,
    username: str | None = None,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    jwt_key_file: str | Path | None = None,
    secrets: OrgSecrets | None = None,
    make_default: bool = False,
    http: httpx2.AsyncClient | None = None,
) -> LoginResult:
    """Save a fresh grant under `alias` (default: the username) with what renews it."""
    found_username, user_id, org_id = await _identify(grant, http)
    username = username or found_username
    alias = alias or username or grant.token.instance_url.split("//", 1)[-1]
    base = secrets or OrgSecrets()
    stored_secrets = OrgSecrets(
        access_token=grant.token.access_token,
        refresh_token=grant.refresh_token,
        client_secret=base.client_secret,
        password=base.password,
        security_token=base.security_token,
    )
    record = OrgRecord(
        alias=alias,
        instance_url=grant.token.instance_url,
        login_url=normalize_login_url(login_url),
        auth_method=method,
        username=username,
        client_id=client_id,
        user_id=user_id,
        org_id=org_id,
        issued_at=grant.token.issued_at,
        expires_at=grant.token.expires_at,
        session_timeout=session_timeout,
        jwt_key_file=str(Path(jwt_key_file).expanduser().resolve()) if jwt_key_file else None,
        created_at=time.time(),
    )
    # File or keyring work stays off the event loop (a keyring may prompt or be slow).
    saved = await asyncio.to_thread(store.save, record, stored_secrets, make_default=make_default)
    return LoginResult(record=saved)


async def login_web(
    store: OrgStore,
    *,
    login_url: str,
    client_id: str,
    alias: str | None = None,
    client_secret: str | None = None,
    port: int = DEFAULT_CALLBACK_PORT,
    redirect_uri: str | None = None,
    scope: str | None = None,
    show_url: Callable[[str], None] = print,
    timeout: float | None = 300.0,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    make_default: bool = False,
    http: httpx2.AsyncClient | None = None,
) -> LoginResult:
    """Browser login with PKCE: `show_url` gets the authorize URL (print it or open it)."""
    flow = WebServerFlow(
        login_url=login_url,
        client_id=client_id,
        client_secret=client_secret,
        port=port,
        redirect_uri=redirect_uri,
        scope=scope,
        session_timeout=session_timeout,
        http=http,
    )
    async with flow:
        # In a thread: opening a browser can block (a terminal browser runs until it quits),
        # and the callback must still be served meanwhile.
        shown = asyncio.ensure_future(asyncio.to_thread(show_url, flow.authorize_url))
        try:
            grant = await flow.complete(timeout)
        finally:
            if shown.done() and not shown.cancelled() and shown.exception() is not None:
                log.warning("could not show the login URL: %s", shown.exception())
            shown.add_done_callback(_ignore_result)
    return await save_grant(
        store,
        grant,
        alias=alias,
        method="web",
        login_url=flow.login_url,
        client_id=client_id,
        session_timeout=session_timeout,
        secrets=OrgSecrets(client_secret=client_secret),
        make_default=make_default,
        http=http,
    )


async def login_jwt(
    store: OrgStore,
    *,
    login_url: str,
    client_id: str,
    username: str,
    key_file: str | Path,
    alias: str | None = None,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    make_default: bool = False,
    http: httpx2.AsyncClient | None = None,
) -> LoginResult:
    """JWT bearer login; the key file's path is kept to renew the session later."""
    provider = JwtBearerProvider(
        login_url=login_url,
        client_id=client_id,
        username=username,
        key_file=key_file,
        session_timeout=session_timeout,
        http=http,
    )
    grant = await provider.login()
    return await save_grant(
        store,
        grant,
        alias=alias,
        method="jwt",
        login_url=login_url,
        client_id=client_id,
        username=username,
        session_timeout=session_timeout,
        jwt_key_file=key_file,
        make_default=make_default,
        http=http,
    )


async def login_client_credentials(
    store: OrgStore,
    *,
    login_url: str,
    client_id: str,
    client_secret: str,
    alias: str | None = None,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    make_default: bool = False,
    http: httpx2.AsyncClient | None = None,
) -> LoginResult:
    """Client credentials login (My Domain URL required); the secret goes to the vault."""
    provider = ClientCredentialsProvider(
        login_url=login_url,
        client_id=client_id,
        client_secret=client_secret,
        session_timeout=session_timeout,
        http=http,
    )
    grant = await provider.login()
    return await save_grant(
        store,
        grant,
        alias=alias,
        method="client_credentials",
        login_url=login_url,
        client_id=client_id,
        session_timeout=session_timeout,
        secrets=OrgSecrets(client_secret=client_secret),
        make_default=make_default,
        http=http,
    )


async def login_password(
    store: OrgStore,
    *,
    login_url: str,
    client_id: str,
    username: str,
    password: str,
    security_token: str = "",
    client_secret: str | None = None,
    alias: str | None = None,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    make_default: bool = False,
    http: httpx2.AsyncClient | None = None,
) -> LoginResult:
    """Username + password (+ security token) login; the password goes to the vault."""
    provider = PasswordProvider(
        login_url=login_url,
        client_id=client_id,
        client_secret=client_secret,
        username=username,
        password=password,
        security_token=security_token,
        session_timeout=session_timeout,
        http=http,
    )
    grant = await provider.login()
    return await save_grant(
        store,
        grant,
        alias=alias,
        method="password",
        login_url=login_url,
        client_id=client_id,
        username=username,
        session_timeout=session_timeout,
        secrets=OrgSecrets(
            client_secret=client_secret, password=password, security_token=security_token or None
        ),
        make_default=make_default,
        http=http,
    )


@dataclass(frozen=True)
class LogoutResult:
    """An org that was removed, and whether Salesforce revoked its token."""

    record: OrgRecord
    revoked: bool
    revoke_error: str | None = None


async def logout(
    store: OrgStore, alias: str, *, revoke: bool = True, http: httpx2.AsyncClient | None = None
) -> LogoutResult:
    """Revoke the org's token at Salesforce, then forget its secrets and metadata.

    Revoking the refresh token ends every session issued from it; without one the access
    token is revoked. The local secrets are removed even when Salesforce cannot be reached.
    """
    record = await asyncio.to_thread(store.get, alias)
    secrets = await asyncio.to_thread(store.secrets, alias)
    revoked = False
    error: str | None = None
    token = secrets.refresh_token or secrets.access_token
    if revoke and token:
        try:
            await revoke_token(record.login_url, token, http=http)
            revoked = True
        except SalesforceError as exc:
            # An already invalid token is as good as revoked.
            if exc.error_code in {"invalid_token", "unsupported_token_type"}:
                revoked = True
            else:
                error = str(exc)
    await asyncio.to_thread(store.remove, alias)
    return LogoutResult(record=record, revoked=revoked, revoke_error=error)
