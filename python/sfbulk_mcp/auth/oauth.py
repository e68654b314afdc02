"""Calls to Salesforce's OAuth endpoints: token, revoke, userinfo.

Every flow ends in a POST to `/services/oauth2/token`; this module sends it, turns the answer
into a `Token` with an expiry estimate, and turns `{"error","error_description"}` bodies into
`AuthError`s. Nothing here logs or repeats a secret.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx2
import orjson

from ..salesforce.credentials import Token
from ..salesforce.errors import AuthError, ConnectionLostError, error_from_response
from .explain import explain
from .urls import oauth_endpoint

log = logging.getLogger("sfbulk_mcp.auth")

DEFAULT_SESSION_TIMEOUT = 7200.0  # Salesforce's default session timeout: 2 hours
_TIMEOUT = httpx2.Timeout(30.0, connect=10.0)
_USER_AGENT = "sfbulk-mcp"
# Statuses after which the token endpoint did not act on the request, so sending it again is
# safe even for a rotating refresh token.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_ATTEMPTS = 3
# Grants that can be asked for again without losing anything (unlike a one-time code or a
# rotating refresh token).
_REPEATABLE_GRANTS = frozenset(
    {"password", "client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer"}
)


@dataclass(frozen=True)
class TokenGrant:
    """What the token endpoint granted: the access token and, maybe, a refresh token."""

    token: Token
    refresh_token: str | None = field(default=None, repr=False)
    scope: str | None = None
    token_type: str = "Bearer"


@asynccontextmanager
async def http_client(http: httpx2.AsyncClient | None) -> AsyncIterator[httpx2.AsyncClient]:
    """`http` itself, or a short-lived client when none is shared (token calls are rare)."""
    if http is not None:
        yield http
        return
    async with httpx2.AsyncClient(timeout=_TIMEOUT, headers={"User-Agent": _USER_AGENT}) as own:
        yield own


def parse_identity_url(id_url: str | None) -> tuple[str | None, str | None]:
    """(org id, user id) from an identity URL `https://host/id/00D.../005...`."""
    if not id_url:
        return None, None
    parts = [p for p in urlsplit(id_url).path.split("/") if p]
    if len(parts) >= 3 and parts[-3] == "id":
        return parts[-2], parts[-1]
    return None, None


def token_from_response(
    data: Mapping[str, Any],
    *,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    username: str | None = None,
    fallback_instance_url: str | None = None,
) -> Token:
    """A `Token` from a token-endpoint body, its expiry estimated from the session timeout.

    Salesforce does not say when an access token expires; it lives until the org's session
    timeout passes without use, so `issued_at + session_timeout` is a safe upper estimate.
    A server that does send `expires_in` is believed.
    """
    access_token = data.get("access_token")
    if not isinstance(access_token, str) or not access_token:
        raise AuthError("the token endpoint answered without an access_token")
    instance_url = str(data.get("instance_url") or fallback_instance_url or "").rstrip("/")
    if not instance_url:
        raise AuthError("the token endpoint answered without an instance_url")
    issued_at = _issued_at_seconds(data.get("issued_at"))
    expires_in = data.get("expires_in")
    if isinstance(expires_in, (int, float, str)) and str(expires_in).strip():
        try:
            lifetime = float(expires_in)
        except ValueError:
            lifetime = session_timeout
    else:
        lifetime = session_timeout
    id_url = data.get("id") if isinstance(data.get("id"), str) else None
    org_id, user_id = parse_identity_url(id_url)
    return Token(
        access_token=access_token,
        instance_url=instance_url,
        issued_at=issued_at,
        expires_at=issued_at + lifetime,
        username=username,
        user_id=user_id,
        org_id=org_id,
        id_url=id_url,
    )


def _issued_at_seconds(value: Any) -> float:
    # `issued_at` is a string of milliseconds since the epoch.
    now = time.time()
    try:
        millis = float(value)
    except (TypeError, ValueError):
        return now
    seconds = millis / 1000.0
    # A clock far off from ours would make the estimate useless: trust our own clock then.
    return seconds if abs(seconds - now) < 3600 else now


async def request_token(
    login_url: str,
    form: Mapping[str, str],
    *,
    http: httpx2.AsyncClient | None = None,
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    username: str | None = None,
) -> TokenGrant:
    """POST `form` to the token endpoint at `login_url` and return what it granted."""
    url = oauth_endpoint(login_url, "token")
    grant = form.get("grant_type", "?")
    started = time.monotonic()
    response = await _post_form(url, form, http=http, repeatable=grant in _REPEATABLE_GRANTS)
    elapsed_ms = (time.monotonic() - started) * 1000
    log.info("POST %s grant_type=%s -> %s (%.0f ms)", url, grant, response.status_code, elapsed_ms)
    if response.status_code >= 400:
        raise explain(
            error_from_response(response.status_code, response.content, method="POST", url=url)
        )
    data = _json_object(response, url)
    token = token_from_response(
        data, session_timeout=session_timeout, username=username, fallback_instance_url=None
    )
    refresh = data.get("refresh_token")
    scope = data.get("scope")
    return TokenGrant(
        token=token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        scope=scope if isinstance(scope, str) else None,
        token_type=str(data.get("token_type") or "Bearer"),
    )


async def _post_form(
    url: str,
    form: Mapping[str, str],
    *,
    http: httpx2.AsyncClient | None,
    repeatable: bool = False,
) -> httpx2.Response:
    """POST with bounded retries: when nothing reached the server, on 429/5xx answers, and,
    for `repeatable` requests (a new grant that consumes nothing), after a dropped answer."""
    async with http_client(http) as client:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                response = await client.post(
                    url, data=dict(form), headers={"Accept": "application/json"}
                )
            except httpx2.TransportError as exc:
                # A connect error means nothing reached the server; any other failure may
                # have cost a one-time code or a rotating refresh token.
                retry = isinstance(exc, httpx2.ConnectError) or repeatable
                if not retry or attempt == _ATTEMPTS:
                    verb = (
                        "cannot reach"
                        if isinstance(exc, httpx2.ConnectError)
                        else ("lost the connection to")
                    )
                    raise ConnectionLostError(
                        f"{verb} {url}: {type(exc).__name__}", method="POST", url=url
                    ) from None
                log.info("POST %s failed (%s); retrying", url, type(exc).__name__)
            else:
                if response.status_code not in _RETRY_STATUSES or attempt == _ATTEMPTS:
                    return response
                log.info("POST %s -> %s; retrying", url, response.status_code)
            await asyncio.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


def _json_object(response: httpx2.Response, url: str) -> dict[str, Any]:
    try:
        data = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise AuthError(
            f"the token endpoint answered HTTP {response.status_code} with a body that is not "
            "JSON: is the login URL a Salesforce org?",
            status=response.status_code,
            method="POST",
            url=url,
        ) from None
    if not isinstance(data, dict):
        raise AuthError("the token endpoint answered with unexpected JSON", method="POST", url=url)
    return data


async def revoke_token(
    login_url: str, token: str, *, http: httpx2.AsyncClient | None = None
) -> None:
    """Revoke an access or refresh token (revoking a refresh token ends its sessions too)."""
    url = oauth_endpoint(login_url, "revoke")
    response = await _post_form(url, {"token": token}, http=http, repeatable=True)
    log.info("POST %s -> %s", url, response.status_code)
    if response.status_code >= 400:
        raise error_from_response(response.status_code, response.content, method="POST", url=url)


async def fetch_userinfo(
    instance_url: str, access_token: str, *, http: httpx2.AsyncClient | None = None
) -> dict[str, Any]:
    """The OpenID Connect userinfo of the token's user (username, user and org ids)."""
    url = oauth_endpoint(instance_url, "userinfo")
    async with http_client(http) as client:
        try:
            response = await client.get(
                url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx2.TransportError as exc:
            raise ConnectionLostError(
                f"cannot reach {url}: {type(exc).__name__}", method="GET", url=url
            ) from None
    log.info("GET %s -> %s", url, response.status_code)
    if response.status_code == 403 and b"Bad_OAuth_Token" in response.content:
        # Salesforce's identity service answers an invalid or expired token this way.
        raise AuthError(
            "the access token is invalid or has expired",
            error_code="Bad_OAuth_Token",
            status=403,
            method="GET",
            url=url,
        )
    if response.status_code >= 400:
        raise error_from_response(response.status_code, response.content, method="GET", url=url)
    data = orjson.loads(response.content)
    if not isinstance(data, dict):
        raise AuthError("userinfo answered with unexpected JSON", method="GET", url=url)
    return data
