"""Token providers: renewal before expiry, one shared refresh, rotation, clear errors."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sfbulk_mcp.auth.errors import LoginRequiredError, LoginUrlError
from sfbulk_mcp.auth.oauth import TokenGrant, parse_identity_url, token_from_response
from sfbulk_mcp.auth.providers import (
    ClientCredentialsProvider,
    JwtBearerProvider,
    PasswordProvider,
    RefreshTokenProvider,
)
from sfbulk_mcp.salesforce.credentials import Token, TokenProvider
from sfbulk_mcp.salesforce.errors import AuthError


def _token(access: str, *, age: float = 0.0, lifetime: float = 7200.0) -> Token:
    issued = time.time() - age
    return Token(
        access_token=access,
        instance_url="https://acme.my.salesforce.com",
        issued_at=issued,
        expires_at=issued + lifetime,
    )


def test_token_response_gives_expiry_from_issued_at_and_session_timeout() -> None:
    issued_ms = int(time.time() * 1000) - 60_000
    token = token_from_response(
        {
            "access_token": "x",
            "instance_url": "https://acme.my.salesforce.com/",
            "id": "https://login.salesforce.com/id/00D5g000004abcdEAA/0055g00000ABCDEAAQ",
            "issued_at": str(issued_ms),
            "token_type": "Bearer",
            "signature": "s",
        },
        session_timeout=900,
    )
    assert token.instance_url == "https://acme.my.salesforce.com"
    assert token.expires_at == pytest.approx(issued_ms / 1000 + 900)
    assert (token.org_id, token.user_id) == ("00D5g000004abcdEAA", "0055g00000ABCDEAAQ")


def test_identity_url_without_ids_gives_none() -> None:
    assert parse_identity_url("https://example.com/other") == (None, None)


def test_refresh_provider_renews_before_expiry(fake_sf: Any) -> None:
    async def scenario() -> tuple[Token, Token]:
        async with fake_sf.client() as http:
            provider = RefreshTokenProvider(
                login_url="https://acme.my.salesforce.com",
                client_id="app",
                refresh_token=fake_sf.add_refresh_token("rt-1"),
                token=_token("about-to-expire", age=7150),
                http=http,
            )
            return await provider.token(), await provider.token()

    first, second = asyncio.run(scenario())
    assert first.access_token.startswith("00Dfake!access-1")
    assert second == first  # fresh now: no second renewal
    assert len(fake_sf.token_requests()) == 1
    assert fake_sf.token_requests()[0]["grant_type"] == "refresh_token"


def test_refresh_provider_keeps_a_fresh_token_without_calling_salesforce(fake_sf: Any) -> None:
    async def scenario() -> Token:
        async with fake_sf.client() as http:
            provider = RefreshTokenProvider(
                login_url="https://login.salesforce.com",
                client_id="app",
                refresh_token="rt",
                token=_token("fresh", age=10),
                http=http,
            )
            return await provider.token()

    assert asyncio.run(scenario()).access_token == "fresh"
    assert fake_sf.requests == []


def test_concurrent_refreshes_of_one_stale_token_collapse_into_one(fake_sf: Any) -> None:
    fake_sf.delay = 0.05

    async def scenario() -> set[str]:
        async with fake_sf.client() as http:
            provider = RefreshTokenProvider(
                login_url="https://acme.my.salesforce.com",
                client_id="app",
                refresh_token=fake_sf.add_refresh_token("rt-1"),
                token=_token("stale"),
                http=http,
            )
            stale = await provider.token()
            tokens = await asyncio.gather(*(provider.refresh(stale) for _ in range(25)))
            return {t.access_token for t in tokens}

    assert len(asyncio.run(scenario())) == 1
    assert len(fake_sf.token_requests()) == 1


def test_rotated_refresh_token_is_handed_to_the_store_at_once(fake_sf: Any) -> None:
    fake_sf.rotate = True
    saved: list[TokenGrant] = []

    async def scenario() -> RefreshTokenProvider:
        async with fake_sf.client() as http:
            provider = RefreshTokenProvider(
                login_url="https://acme.my.salesforce.com",
                client_id="app",
                refresh_token=fake_sf.add_refresh_token("rt-1"),
                on_grant=saved.append,
                http=http,
            )
            first = await provider.token()
            await provider.refresh(first)
            return provider

    provider = asyncio.run(scenario())
    assert [g.refresh_token for g in saved] == ["5Aep-refresh-1-SECRET", "5Aep-refresh-2-SECRET"]
    assert provider.refresh_token == "5Aep-refresh-2-SECRET"
    # The second refresh used the first rotated token, not the original one.
    assert fake_sf.token_requests()[1]["refresh_token"] == "5Aep-refresh-1-SECRET"


def test_revoked_refresh_token_tells_the_user_to_log_in_again(fake_sf: Any) -> None:
    async def scenario() -> None:
        async with fake_sf.client() as http:
            provider = RefreshTokenProvider(
                login_url="https://acme.my.salesforce.com",
                client_id="app",
                refresh_token="revoked-SECRET",
                alias="prod",
                http=http,
            )
            await provider.token()

    with pytest.raises(LoginRequiredError) as caught:
        asyncio.run(scenario())
    message = str(caught.value)
    assert "sfbulk login --alias prod" in message
    assert "expired access/refresh token" in message
    assert "revoked-SECRET" not in message
    assert isinstance(caught.value, AuthError)


def test_jwt_assertion_claims_follow_salesforce_rules(rsa_key_pem: bytes) -> None:
    provider = JwtBearerProvider(
        login_url="https://acme--uat.sandbox.my.salesforce.com",
        client_id="3MVG9-consumer",
        username="ada@acme.test.uat",
        private_key=rsa_key_pem,
    )
    now = time.time()
    assertion = provider.assertion(now=now)
    decoded = jwt.decode(assertion, RSAKey.import_key(rsa_key_pem))
    assert decoded.header["alg"] == "RS256"
    claims = decoded.claims
    assert claims["iss"] == "3MVG9-consumer"
    assert claims["sub"] == "ada@acme.test.uat"
    assert claims["aud"] == "https://test.salesforce.com"
    assert 0 < claims["exp"] - now <= 180
    assert provider.token_url == "https://acme--uat.sandbox.my.salesforce.com/services/oauth2/token"


def test_jwt_grant_posts_the_assertion_to_the_login_host(fake_sf: Any, rsa_key_pem: bytes) -> None:
    async def scenario() -> Token:
        async with fake_sf.client() as http:
            provider = JwtBearerProvider(
                login_url="https://login.salesforce.com",
                client_id="app",
                username="ada@acme.test",
                private_key=rsa_key_pem,
                http=http,
            )
            return await provider.token()

    token = asyncio.run(scenario())
    assert token.username == "ada@acme.test"
    _method, url, form = fake_sf.requests[0]
    assert url == "https://login.salesforce.com/services/oauth2/token"
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    claims = jwt.decode(form["assertion"], RSAKey.import_key(rsa_key_pem)).claims
    assert claims["aud"] == "https://login.salesforce.com"


def test_jwt_key_file_that_is_not_a_key_gives_a_clear_error(tmp_path: Any) -> None:
    bad = tmp_path / "server.key"
    bad.write_text("not a key")
    with pytest.raises(AuthError, match="RSA private key in PEM"):
        JwtBearerProvider(
            login_url="https://login.salesforce.com", client_id="a", username="u", key_file=bad
        )


def test_client_credentials_needs_a_my_domain() -> None:
    with pytest.raises(LoginUrlError, match="My Domain"):
        ClientCredentialsProvider(
            login_url="https://login.salesforce.com", client_id="a", client_secret="s"
        )


def test_client_credentials_posts_to_the_my_domain(fake_sf: Any) -> None:
    async def scenario() -> None:
        async with fake_sf.client() as http:
            provider = ClientCredentialsProvider(
                login_url="https://acme.my.salesforce.com",
                client_id="app",
                client_secret="cs-SECRET",
                http=http,
            )
            await provider.token()

    asyncio.run(scenario())
    _, url, form = fake_sf.requests[0]
    assert url == "https://acme.my.salesforce.com/services/oauth2/token"
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "app",
        "client_secret": "cs-SECRET",
    }


def test_password_flow_appends_the_security_token(fake_sf: Any) -> None:
    async def scenario() -> None:
        async with fake_sf.client() as http:
            provider = PasswordProvider(
                login_url="https://test.salesforce.com",
                client_id="app",
                client_secret="cs",
                username="ada@acme.test",
                password="pw",
                security_token="TOK",
                http=http,
            )
            await provider.token()

    asyncio.run(scenario())
    _, url, form = fake_sf.requests[0]
    assert url == "https://test.salesforce.com/services/oauth2/token"
    assert form["password"] == "pwTOK"
    assert form["grant_type"] == "password"


def test_oauth_error_is_an_auth_error_without_secrets_in_message_or_logs(
    fake_sf: Any, caplog: pytest.LogCaptureFixture
) -> None:
    fake_sf.fail_with = (
        400,
        {"error": "invalid_grant", "error_description": "authentication failure"},
    )
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        async with fake_sf.client() as http:
            provider = PasswordProvider(
                login_url="https://login.salesforce.com",
                client_id="app",
                client_secret="cs-VERY-SECRET",
                username="ada@acme.test",
                password="hunter2-SECRET",
                security_token="TOKEN-SECRET",
                http=http,
            )
            await provider.token()

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())
    assert caught.value.error_code == "invalid_grant"
    assert "authentication failure" in str(caught.value)
    for text in (str(caught.value), repr(caught.value), caplog.text):
        assert "SECRET" not in text


def test_providers_satisfy_the_client_protocol(rsa_key_pem: bytes) -> None:
    provider = JwtBearerProvider(
        login_url="http://127.0.0.1:1", client_id="a", username="u", private_key=rsa_key_pem
    )
    assert isinstance(provider, TokenProvider)
    assert provider.audience == "http://127.0.0.1:1"


@pytest.mark.parametrize(
    ("body", "advice"),
    [
        (
            {"error": "invalid_client_id", "error_description": "client identifier invalid"},
            "SALESFORCE_CLIENT_ID",
        ),
        (
            {"error": "invalid_grant", "error_description": "user hasn't approved this consumer"},
            "pre-authorized",
        ),
        (
            {"error": "invalid_grant", "error_description": "audience is invalid"},
            "https://test.salesforce.com for sandboxes",
        ),
        (
            {
                "error": "invalid_request",
                "error_description": "request not supported on this domain",
            },
            "My Domain",
        ),
        (
            {"error": "unsupported_grant_type", "error_description": "grant type not supported"},
            "does not allow this flow",
        ),
    ],
)
def test_common_oauth_errors_come_with_advice(
    fake_sf: Any, body: dict[str, str], advice: str
) -> None:
    fake_sf.fail_with = (400, body)

    async def scenario() -> None:
        async with fake_sf.client() as http:
            await ClientCredentialsProvider(
                login_url="https://acme.my.salesforce.com",
                client_id="app",
                client_secret="s",
                http=http,
            ).token()

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())
    assert caught.value.error_code == body["error"]
    assert body["error_description"] in str(caught.value)
    assert advice in str(caught.value)
