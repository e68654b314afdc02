"""Turn `--org ALIAS`, the environment, or `devorg` into a ready `TokenProvider`.

    async with open_org("prod") as org:        # org.provider, org.instance_url, org.alias
        client = SalesforceClient(org)         # a ConnectedOrg is itself a TokenProvider

Resolution: an explicit alias (or `SFBULK_ORG`) comes from the store (`devorg` works even
when not stored); with no alias, the store's default org, else the environment variables
(access token, client credentials, JWT bearer, password), else an error listing the options.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ..salesforce.credentials import Token, TokenProvider
from .devorg_login import devorg_login
from .env import ENV_HELP, provider_from_env
from .errors import LoginRequiredError, NoCredentialsError, OrgNotFoundError
from .oauth import DEFAULT_SESSION_TIMEOUT
from .providers import (
    ClientCredentialsProvider,
    JwtBearerProvider,
    PasswordProvider,
    RefreshTokenProvider,
)
from .store import OrgRecord, OrgSecrets, OrgStore

DEVORG_ALIAS = "devorg"


@dataclass
class ConnectedOrg:
    """A resolved org: its token provider and what is known about it.

    It is a `TokenProvider` itself (it delegates), so it can be handed to the client as is.
    """

    provider: TokenProvider
    alias: str | None
    source: str  # store | env | devorg | devorg-embedded
    auth_method: str
    instance_url: str | None = None
    username: str | None = None
    record: OrgRecord | None = None

    async def token(self) -> Token:
        """The provider's current token."""
        return await self.provider.token()

    async def refresh(self, stale: Token) -> Token:
        """A renewed token after `stale` was rejected."""
        return await self.provider.refresh(stale)


class SessionOnlyProvider:
    """A stored access token with no way to renew it (no refresh token was granted)."""

    def __init__(self, token: Token, alias: str | None) -> None:
        self._token = token
        self._alias = alias

    async def token(self) -> Token:
        """The stored token. Sessions stay alive while used, so only Salesforce can say it
        has expired (then `refresh` explains what to do)."""
        return self._token

    async def refresh(self, stale: Token) -> Token:
        """Always an error: this login cannot be renewed without the user."""
        raise LoginRequiredError(
            "the session was rejected and this login has no refresh token", alias=self._alias
        )


def stored_token(record: OrgRecord, secrets: OrgSecrets) -> Token | None:
    """The access token saved with an org, with its expiry estimate."""
    if not secrets.access_token:
        return None
    return Token(
        access_token=secrets.access_token,
        instance_url=record.instance_url,
        issued_at=record.issued_at or 0.0,
        expires_at=record.expires_at,
        username=record.username,
        user_id=record.user_id,
        org_id=record.org_id,
    )


def provider_for_record(
    record: OrgRecord, secrets: OrgSecrets, store: OrgStore | None = None
) -> TokenProvider:
    """The provider that renews a stored org with the method it was logged in with."""
    token = stored_token(record, secrets)
    saver = store.grant_saver(record.alias) if store is not None else None
    timeout = record.session_timeout or DEFAULT_SESSION_TIMEOUT
    method = record.auth_method
    missing = LoginRequiredError(
        f"the stored credentials of {record.alias!r} are incomplete", alias=record.alias
    )
    if method in {"web", "refresh_token"}:
        if secrets.refresh_token and record.client_id:
            return RefreshTokenProvider(
                login_url=record.login_url,
                client_id=record.client_id,
                client_secret=secrets.client_secret,
                refresh_token=secrets.refresh_token,
                alias=record.alias,
                username=record.username,
                token=token,
                session_timeout=timeout,
                on_grant=saver,
                reload_refresh_token=(
                    (lambda: store.secrets(record.alias).refresh_token) if store else None
                ),
            )
        if token is None:
            raise missing
        return SessionOnlyProvider(token, record.alias)
    if method == "jwt":
        if not (record.client_id and record.username and record.jwt_key_file):
            raise missing
        return JwtBearerProvider(
            login_url=record.login_url,
            client_id=record.client_id,
            username=record.username,
            key_file=record.jwt_key_file,
            token=token,
            session_timeout=timeout,
            on_grant=saver,
        )
    if method == "client_credentials":
        if not (record.client_id and secrets.client_secret):
            raise missing
        return ClientCredentialsProvider(
            login_url=record.login_url,
            client_id=record.client_id,
            client_secret=secrets.client_secret,
            token=token,
            session_timeout=timeout,
            on_grant=saver,
        )
    if method == "password":
        if not (record.client_id and record.username and secrets.password):
            raise missing
        return PasswordProvider(
            login_url=record.login_url,
            client_id=record.client_id,
            client_secret=secrets.client_secret,
            username=record.username,
            password=secrets.password,
            security_token=secrets.security_token or "",
            token=token,
            session_timeout=timeout,
            on_grant=saver,
        )
    if token is None:
        raise missing
    return SessionOnlyProvider(token, record.alias)


def _from_store(store: OrgStore, alias: str) -> ConnectedOrg:
    record = store.get(alias)
    provider = provider_for_record(record, store.secrets(alias), store)
    return ConnectedOrg(
        provider=provider,
        alias=alias,
        source="store",
        auth_method=record.auth_method,
        instance_url=record.instance_url,
        username=record.username,
        record=record,
    )


@asynccontextmanager
async def open_org(
    org: str | None = None,
    *,
    store: OrgStore | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[ConnectedOrg]:
    """Resolve an org for the duration of the context (an embedded devorg stops after it)."""
    env = os.environ if env is None else env
    store = store if store is not None else OrgStore(env=env)
    chosen = org or env.get("SFBULK_ORG")
    alias = chosen.strip() if chosen else None
    if alias:
        if store.find(alias) is not None:
            yield _from_store(store, alias)
            return
        if alias == DEVORG_ALIAS:
            async with devorg_login(env) as login:
                yield ConnectedOrg(
                    provider=login.provider,
                    alias=DEVORG_ALIAS,
                    source="devorg-embedded" if login.embedded else "devorg",
                    auth_method="password",
                    instance_url=login.instance_url,
                    username=login.provider.username,
                )
            return
        raise OrgNotFoundError(alias, [r.alias for r in store.list_orgs()])
    default = store.default_alias()
    if default is not None:
        yield _from_store(store, default)
        return
    from_env = provider_from_env(env)
    if from_env is not None:
        yield ConnectedOrg(
            provider=from_env.provider,
            alias=None,
            source="env",
            auth_method=from_env.method,
            instance_url=from_env.instance_url,
            username=from_env.username,
        )
        return
    raise NoCredentialsError(
        "no Salesforce org to use: pass --org ALIAS (see `sfbulk orgs`; `--org devorg` runs a "
        "local org), log in with `sfbulk login --instance-url URL [--set-default]`, or " + ENV_HELP
    )
