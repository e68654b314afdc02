"""Reuse a Salesforce CLI (`sf`) login: `sfbulk login --sf-org ALIAS`.

`sf org display --target-org ALIAS --verbose --json` hands out the org's access token and,
for orgs the CLI logged in to with the web flow, an SFDX auth URL
(`force://<client id>:<client secret>:<refresh token>@<instance>`). With the refresh token
the imported org renews itself like any other; without it only the current session is kept.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import orjson

from ..salesforce.credentials import Token
from .errors import LoginRequiredError, NoCredentialsError
from .login import LoginResult, save_grant
from .oauth import DEFAULT_SESSION_TIMEOUT, TokenGrant
from .store import OrgSecrets, OrgStore
from .urls import normalize_login_url

_TIMEOUT = 60.0


@dataclass(frozen=True)
class SfdxAuthUrl:
    """The parts of an SFDX auth URL."""

    client_id: str
    instance_url: str
    refresh_token: str = field(repr=False)
    client_secret: str | None = field(default=None, repr=False)


def parse_sfdx_auth_url(url: str) -> SfdxAuthUrl:
    """Split `force://<client id>:<client secret>:<refresh token>@<instance>`."""
    text = url.strip()
    if not text.startswith("force://") or "@" not in text:
        raise NoCredentialsError(
            "not an SFDX auth URL: expected force://<client id>:<secret>:<refresh token>@<host>"
        )
    credentials, _, host = text[len("force://") :].rpartition("@")
    parts = credentials.split(":")
    if len(parts) == 2:  # force://<client id>:<refresh token>@<host> (older form)
        client_id, refresh = parts
        secret = ""
    elif len(parts) >= 3:
        client_id, secret, refresh = parts[0], parts[1], ":".join(parts[2:])
    else:
        raise NoCredentialsError("the SFDX auth URL has no refresh token")
    if not client_id or not refresh or not host:
        raise NoCredentialsError("the SFDX auth URL is incomplete")
    return SfdxAuthUrl(
        client_id=client_id,
        instance_url=normalize_login_url(host),
        refresh_token=unquote(refresh),
        client_secret=unquote(secret) or None,
    )


async def sf_org_display(target: str | None, *, sf_command: str = "sf") -> dict[str, Any]:
    """The `result` of `sf org display [--target-org TARGET] --verbose --json` (without a
    target, the CLI's default org, or `SF_TARGET_ORG`)."""
    executable = shutil.which(sf_command)
    if executable is None:
        raise NoCredentialsError(
            f"the Salesforce CLI ({sf_command}) is not installed or not on PATH: install it, or "
            "log in with `sfbulk login --instance-url URL`"
        )
    target_args = ["--target-org", target] if target else []
    process = await asyncio.create_subprocess_exec(
        executable,
        "org",
        "display",
        *target_args,
        "--verbose",
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), _TIMEOUT)
    except TimeoutError:
        process.kill()
        raise NoCredentialsError(f"`{sf_command} org display` did not answer in time") from None
    try:
        data = orjson.loads(stdout)
    except orjson.JSONDecodeError:
        # Never echo the output: it may hold tokens.
        raise NoCredentialsError(f"`{sf_command} org display` did not print JSON") from None
    if not isinstance(data, dict):
        raise NoCredentialsError(f"`{sf_command} org display` printed unexpected JSON")
    if data.get("status") != 0 or not isinstance(data.get("result"), dict):
        reason = str(data.get("message") or data.get("name") or "unknown error")
        raise NoCredentialsError(
            f"the Salesforce CLI has no usable login for {target or 'its default org'!r}: "
            f"{reason[:300]}"
        )
    result: dict[str, Any] = data["result"]
    return result


async def import_sf_cli_org(
    store: OrgStore,
    target: str,
    *,
    alias: str | None = None,
    sf_command: str = "sf",
    session_timeout: float = DEFAULT_SESSION_TIMEOUT,
    make_default: bool = False,
) -> LoginResult:
    """Store the org the Salesforce CLI knows as `target` (alias or username)."""
    info = await sf_org_display(target, sf_command=sf_command)
    access_token = info.get("accessToken")
    instance_url = info.get("instanceUrl")
    if not isinstance(access_token, str) or not isinstance(instance_url, str):
        raise NoCredentialsError(f"the Salesforce CLI gave no session for {target!r}")
    username = info.get("username") if isinstance(info.get("username"), str) else None
    now = time.time()
    auth_url = info.get("sfdxAuthUrl")
    parsed = parse_sfdx_auth_url(auth_url) if isinstance(auth_url, str) and auth_url else None
    grant = TokenGrant(
        token=Token(
            access_token=access_token,
            instance_url=normalize_login_url(instance_url),
            issued_at=now,
            expires_at=now + session_timeout,
            username=username,
        ),
        refresh_token=parsed.refresh_token if parsed else None,
    )
    return await save_grant(
        store,
        grant,
        alias=alias or (info.get("alias") if isinstance(info.get("alias"), str) else None),
        method="web" if parsed else "access_token",
        login_url=parsed.instance_url if parsed else instance_url,
        client_id=parsed.client_id if parsed else str(info.get("clientId") or "PlatformCLI"),
        username=username,
        session_timeout=session_timeout,
        secrets=OrgSecrets(client_secret=parsed.client_secret if parsed else None),
        make_default=make_default,
    )


class SfCliProvider:
    """Tokens straight from the Salesforce CLI, which keeps and renews its own login."""

    method = "sf_cli"

    def __init__(self, target: str | None = None, *, sf_command: str = "sf") -> None:
        self._target = target
        self._sf_command = sf_command
        self._token: Token | None = None
        self._lock = asyncio.Lock()

    async def token(self) -> Token:
        """The CLI's current session for the org."""
        if self._token is not None:
            return self._token
        return await self._fetch(None)

    async def refresh(self, stale: Token) -> Token:
        """Ask the CLI again; it renews the session with its own refresh token."""
        return await self._fetch(stale)

    async def _fetch(self, stale: Token | None) -> Token:
        async with self._lock:
            current = self._token
            if current is not None and (
                stale is None or current.access_token != stale.access_token
            ):
                return current
            info = await sf_org_display(self._target, sf_command=self._sf_command)
            access_token = info.get("accessToken")
            instance_url = info.get("instanceUrl")
            if not isinstance(access_token, str) or not isinstance(instance_url, str):
                raise NoCredentialsError("the Salesforce CLI gave no session")
            if stale is not None and access_token == stale.access_token:
                raise LoginRequiredError(
                    "the Salesforce CLI's session was rejected: run `sf org login web` for "
                    "this org, or log in with `sfbulk login`",
                    alias=None,
                )
            username = info.get("username")
            self._token = Token(
                access_token=access_token,
                instance_url=normalize_login_url(instance_url),
                username=username if isinstance(username, str) else None,
            )
            return self._token
