"""Resolving `--org`, the default org and the SALESFORCE_* variables into a provider."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from sfbulk_mcp.auth.errors import LoginRequiredError, NoCredentialsError, OrgNotFoundError
from sfbulk_mcp.auth.providers import (
    ClientCredentialsProvider,
    JwtBearerProvider,
    PasswordProvider,
    RefreshTokenProvider,
)
from sfbulk_mcp.auth.resolve import ConnectedOrg, open_org
from sfbulk_mcp.auth.store import OrgRecord, OrgSecrets, OrgStore
from sfbulk_mcp.salesforce.credentials import StaticTokenProvider


def _resolve(
    org: str | None = None, env: dict[str, str] | None = None, store: OrgStore | None = None
) -> ConnectedOrg:
    async def scenario() -> ConnectedOrg:
        async with open_org(org, store=store, env=env or {}) as resolved:
            return resolved

    return asyncio.run(scenario())


@pytest.fixture
def store(config_dir: Path) -> OrgStore:
    return OrgStore(config_dir, env={"SFBULK_SECRETS": "file"})


def test_static_access_token_from_env(store: OrgStore) -> None:
    org = _resolve(
        env={
            "SALESFORCE_ACCESS_TOKEN": "00D!tok",
            "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com/",
        },
        store=store,
    )
    assert isinstance(org.provider, StaticTokenProvider)
    assert (org.source, org.auth_method, org.instance_url) == (
        "env",
        "access_token",
        "https://acme.my.salesforce.com",
    )
    token = asyncio.run(org.token())
    assert token.access_token == "00D!tok"


def test_access_token_without_instance_url_says_what_is_missing(store: OrgStore) -> None:
    with pytest.raises(NoCredentialsError, match="SALESFORCE_INSTANCE_URL"):
        _resolve(env={"SALESFORCE_ACCESS_TOKEN": "x"}, store=store)


@pytest.mark.parametrize(
    ("env", "provider_type", "method"),
    [
        (
            {
                "SALESFORCE_CLIENT_ID": "a",
                "SALESFORCE_CLIENT_SECRET": "s",
                "SALESFORCE_INSTANCE_URL": "https://acme.my.salesforce.com",
            },
            ClientCredentialsProvider,
            "client_credentials",
        ),
        (
            {
                "SALESFORCE_CLIENT_ID": "a",
                "SALESFORCE_USERNAME": "u",
                "SALESFORCE_JWT_KEY_FILE": "KEY",
            },
            JwtBearerProvider,
            "jwt",
        ),
        (
            {
                "SALESFORCE_CLIENT_ID": "a",
                "SALESFORCE_CLIENT_SECRET": "s",
                "SALESFORCE_USERNAME": "u",
                "SALESFORCE_PASSWORD": "p",
                "SALESFORCE_SECURITY_TOKEN": "t",
            },
            PasswordProvider,
            "password",
        ),
        (
            {
                "SALESFORCE_ACCESS_TOKEN": "x",
                "SALESFORCE_INSTANCE_URL": "https://a.my.salesforce.com",
                "SALESFORCE_CLIENT_ID": "a",
                "SALESFORCE_CLIENT_SECRET": "s",
            },
            StaticTokenProvider,
            "access_token",
        ),
    ],
)
def test_env_methods_in_order(
    store: OrgStore,
    rsa_key_pem: bytes,
    tmp_path: Path,
    env: dict[str, str],
    provider_type: type,
    method: str,
) -> None:
    if env.get("SALESFORCE_JWT_KEY_FILE") == "KEY":
        key = tmp_path / "server.key"
        key.write_bytes(rsa_key_pem)
        env = {**env, "SALESFORCE_JWT_KEY_FILE": str(key)}
    org = _resolve(env=env, store=store)
    assert isinstance(org.provider, provider_type)
    assert org.auth_method == method


def test_client_credentials_env_with_generic_login_url_is_refused(store: OrgStore) -> None:
    with pytest.raises(Exception, match="My Domain"):
        _resolve(
            env={
                "SALESFORCE_CLIENT_ID": "a",
                "SALESFORCE_CLIENT_SECRET": "s",
                "SALESFORCE_LOGIN_URL": "https://login.salesforce.com",
            },
            store=store,
        )


def test_nothing_configured_lists_every_option(store: OrgStore) -> None:
    with pytest.raises(NoCredentialsError) as caught:
        _resolve(env={}, store=store)
    message = str(caught.value)
    for hint in (
        "--org",
        "sfbulk login",
        "devorg",
        "SALESFORCE_ACCESS_TOKEN",
        "SALESFORCE_CLIENT_SECRET",
        "SALESFORCE_JWT_KEY_FILE",
        "SALESFORCE_PASSWORD",
    ):
        assert hint in message


def _save_web_org(store: OrgStore, alias: str, *, default: bool = False) -> None:
    store.save(
        OrgRecord(
            alias=alias,
            instance_url="https://acme.my.salesforce.com",
            login_url="https://login.salesforce.com",
            auth_method="web",
            client_id="app",
            username="ada@acme.test",
            issued_at=time.time(),
            expires_at=time.time() + 7200,
        ),
        OrgSecrets(access_token="AT", refresh_token="RT"),
        make_default=default,
    )


def test_alias_and_default_org_come_from_the_store(store: OrgStore) -> None:
    _save_web_org(store, "prod")
    _save_web_org(store, "uat")
    explicit = _resolve("uat", store=store)
    assert isinstance(explicit.provider, RefreshTokenProvider)
    assert (explicit.alias, explicit.source, explicit.username) == ("uat", "store", "ada@acme.test")
    assert asyncio.run(explicit.token()).access_token == "AT"
    # The default org wins over nothing; env vars are only used without a default.
    assert (
        _resolve(
            None,
            env={
                "SALESFORCE_ACCESS_TOKEN": "x",
                "SALESFORCE_INSTANCE_URL": "https://a.my.salesforce.com",
            },
            store=store,
        ).alias
        == "prod"
    )


def test_unknown_alias_is_a_clear_error(store: OrgStore) -> None:
    _save_web_org(store, "prod")
    with pytest.raises(OrgNotFoundError, match="known aliases: prod"):
        _resolve("staging", store=store)


def test_stored_session_without_refresh_token_asks_for_login(store: OrgStore) -> None:
    store.save(
        OrgRecord(
            alias="once",
            instance_url="https://acme.my.salesforce.com",
            login_url="https://login.salesforce.com",
            auth_method="web",
            client_id="app",
            issued_at=time.time(),
            expires_at=time.time() + 7200,
        ),
        OrgSecrets(access_token="AT"),
    )
    org = _resolve("once", store=store)

    async def refresh() -> Any:
        return await org.refresh(await org.token())

    with pytest.raises(LoginRequiredError, match="sfbulk login --alias once"):
        asyncio.run(refresh())
