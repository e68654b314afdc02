"""`OAUTH_MODE=bearer`: callers send their own Salesforce access token.

Each token is checked with Salesforce's userinfo endpoint (so a made-up or revoked token is
refused before any tool runs), the answer cached for a short while, and the caller gets a
client built from their own token — never another user's.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import OrderedDict
from typing import Any
from urllib.parse import urlsplit

import anyio
from mcp.server.auth.provider import AccessToken

from sfbulk_mcp.auth.oauth import fetch_userinfo
from sfbulk_mcp.salesforce.credentials import StaticTokenProvider, TokenProvider
from sfbulk_mcp.salesforce.errors import SalesforceError

log = logging.getLogger("sfbulk_mcp.mcp.http")


def instance_from_userinfo(info: dict[str, Any], fallback: str) -> str:
    """The instance URL a userinfo answer points at (its REST URL), else `fallback`."""
    urls = info.get("urls") or {}
    for key in ("rest", "sobjects", "custom_domain", "enterprise"):
        value = urls.get(key)
        if isinstance(value, str) and value:
            parts = urlsplit(value.replace("{version}", "0"))
            if parts.scheme and parts.netloc:
                return f"{parts.scheme}://{parts.netloc}"
    return fallback.rstrip("/")


class SalesforceTokenVerifier:
    """A `TokenVerifier` that asks Salesforce's userinfo whether a token is good."""

    def __init__(self, login_url: str, *, cache_seconds: float = 60.0, capacity: int = 1024) -> None:
        self.login_url = login_url.rstrip("/")
        self._ttl = cache_seconds
        self._capacity = capacity
        self._cache: OrderedDict[str, tuple[float, AccessToken | None]] = OrderedDict()
        self._lock = anyio.Lock()

    async def verify_token(self, token: str) -> AccessToken | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        async with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self._ttl:
                return hit[1]
        access = await self._check(token)
        async with self._lock:
            # A refusal is cached only briefly: the user may be fixing their login.
            self._cache[key] = (now if access else now - self._ttl + 5, access)
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return access

    async def _check(self, token: str) -> AccessToken | None:
        try:
            info = await fetch_userinfo(self.login_url, token)
        except SalesforceError as exc:
            log.info("bearer token refused by userinfo: %s", exc.error_code or exc.status)
            return None
        user_id = str(info.get("user_id") or info.get("sub") or "")
        org_id = str(info.get("organization_id") or "")
        return AccessToken(
            token=token,
            client_id="salesforce",
            scopes=[],
            subject=f"{org_id}/{user_id}",
            claims={
                "instance_url": instance_from_userinfo(info, self.login_url),
                "username": info.get("preferred_username"),
                "user_id": user_id,
                "org_id": org_id,
            },
        )


async def bearer_provider(token: str, claims: dict[str, Any]) -> TokenProvider:
    """The caller's own token, used as is (a rejected one means: authenticate again)."""
    return StaticTokenProvider(token, str(claims["instance_url"]))
