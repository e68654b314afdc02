"""Which login host, token URL and JWT audience each kind of Salesforce URL leads to."""

from __future__ import annotations

import pytest
from sfbulk_mcp.auth.errors import LoginUrlError
from sfbulk_mcp.auth.pkce import make_verifier, s256_challenge
from sfbulk_mcp.auth.urls import (
    LoginKind,
    jwt_audience,
    login_kind,
    normalize_login_url,
    oauth_endpoint,
    require_my_domain,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("login.salesforce.com", "https://login.salesforce.com"),
        ("https://login.salesforce.com/", "https://login.salesforce.com"),
        ("https://test.salesforce.com/services/oauth2/token", "https://test.salesforce.com"),
        ("HTTPS://Acme.My.Salesforce.com", "https://acme.my.salesforce.com"),
        (
            "https://acme--uat.sandbox.my.salesforce.com:443",
            "https://acme--uat.sandbox.my.salesforce.com",
        ),
        ("https://acme.lightning.force.com/lightning/page/home", "https://acme.my.salesforce.com"),
        (
            "https://acme--uat.sandbox.lightning.force.com",
            "https://acme--uat.sandbox.my.salesforce.com",
        ),
        ("https://acme.my.salesforce-setup.com", "https://acme.my.salesforce.com"),
        ("http://127.0.0.1:8787/", "http://127.0.0.1:8787"),
        ("http://localhost:9000", "http://localhost:9000"),
    ],
)
def test_login_urls_are_normalised(given: str, expected: str) -> None:
    assert normalize_login_url(given) == expected


def test_plain_http_is_refused_outside_loopback() -> None:
    with pytest.raises(LoginUrlError, match="https"):
        normalize_login_url("http://acme.my.salesforce.com")


def test_nonsense_url_is_refused_with_the_accepted_forms() -> None:
    with pytest.raises(LoginUrlError, match="login.salesforce.com"):
        normalize_login_url("ftp://example.com")


@pytest.mark.parametrize(
    ("url", "kind", "audience"),
    [
        ("https://login.salesforce.com", LoginKind.PRODUCTION, "https://login.salesforce.com"),
        ("https://test.salesforce.com", LoginKind.SANDBOX, "https://test.salesforce.com"),
        ("https://acme.my.salesforce.com", LoginKind.MY_DOMAIN, "https://login.salesforce.com"),
        (
            "https://acme--uat.sandbox.my.salesforce.com",
            LoginKind.SANDBOX_MY_DOMAIN,
            "https://test.salesforce.com",
        ),
        (
            "https://acme--uat.cs42.my.salesforce.com",
            LoginKind.SANDBOX_MY_DOMAIN,
            "https://test.salesforce.com",
        ),
        (
            "https://dream-1234.scratch.my.salesforce.com",
            LoginKind.SANDBOX_MY_DOMAIN,
            "https://test.salesforce.com",
        ),
        (
            "https://acme-dev-ed.develop.my.salesforce.com",
            LoginKind.MY_DOMAIN,
            "https://login.salesforce.com",
        ),
        ("http://127.0.0.1:8787", LoginKind.LOCAL, "http://127.0.0.1:8787"),
    ],
)
def test_kind_and_jwt_audience_of_each_login_host(url: str, kind: LoginKind, audience: str) -> None:
    assert login_kind(url) is kind
    assert jwt_audience(url) == audience


def test_token_endpoint_stays_on_the_my_domain() -> None:
    url = "https://acme--uat.sandbox.my.salesforce.com"
    assert oauth_endpoint(url, "token") == f"{url}/services/oauth2/token"


@pytest.mark.parametrize("url", ["https://login.salesforce.com", "test.salesforce.com"])
def test_client_credentials_refuses_generic_login_hosts(url: str) -> None:
    with pytest.raises(LoginUrlError, match="My Domain"):
        require_my_domain(url, "client credentials")


def test_client_credentials_accepts_sandbox_my_domain() -> None:
    url = "https://acme--uat.sandbox.my.salesforce.com"
    assert require_my_domain(url, "client credentials") == url


def test_pkce_s256_matches_rfc7636_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_pkce_verifiers_are_fresh_and_within_rfc_length() -> None:
    verifiers = {make_verifier() for _ in range(20)}
    assert len(verifiers) == 20
    assert all(43 <= len(v) <= 128 for v in verifiers)
