"""What the client needs from an auth flow: a current access token, and a way to renew it.

Every login method (static token, refresh token, JWT bearer, client credentials, password,
the devorg) is a `TokenProvider`. The client asks for a token before each request and calls
`refresh` once when Salesforce answers `401 INVALID_SESSION_ID`; it makes concurrent callers
share that one refresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Token:
    """An access token and the instance it is valid for. Its repr never shows the secret."""

    access_token: str = field(repr=False)
    instance_url: str
    issued_at: float = field(default_factory=time.time)
    # Salesforce does not say when a session expires; providers estimate it from the org's
    # session timeout so that they can refresh ahead of time. None = unknown.
    expires_at: float | None = None
    username: str | None = None
    user_id: str | None = None
    org_id: str | None = None
    id_url: str | None = None

    def expires_within(self, seconds: float) -> bool:
        """True when the token is known to expire within `seconds` from now."""
        return self.expires_at is not None and self.expires_at - time.time() <= seconds


@runtime_checkable
class TokenProvider(Protocol):
    """Source of access tokens for one org."""

    async def token(self) -> Token:
        """The token to use now; may refresh first when it is about to expire."""
        ...

    async def refresh(self, stale: Token) -> Token:
        """A new token after `stale` was rejected. Raises `AuthError` when it cannot."""
        ...


class StaticTokenProvider:
    """A fixed access token (e.g. `SALESFORCE_ACCESS_TOKEN`); it cannot be refreshed."""

    def __init__(self, access_token: str, instance_url: str) -> None:
        self._token = Token(access_token=access_token, instance_url=instance_url.rstrip("/"))

    async def token(self) -> Token:
        return self._token

    async def refresh(self, stale: Token) -> Token:
        from .errors import SessionExpiredError

        raise SessionExpiredError(
            "the access token was rejected and cannot be refreshed: set a new "
            "SALESFORCE_ACCESS_TOKEN or log in with `sfbulk login`",
            status=401,
            hint="",
        )
