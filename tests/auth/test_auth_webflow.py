"""The web server flow's own side: authorize URL, loopback callback, state, code exchange."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from sfbulk_mcp.auth.errors import CallbackError, LoginUrlError
from sfbulk_mcp.auth.pkce import s256_challenge
from sfbulk_mcp.auth.webflow import WebServerFlow


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def _browser_hits(url: str) -> httpx2.Response:
    async with httpx2.AsyncClient() as browser:
        return await browser.get(url)


def test_authorize_url_carries_pkce_s256_and_state() -> None:
    async def scenario() -> tuple[WebServerFlow, str]:
        flow = WebServerFlow(
            login_url="https://acme--uat.sandbox.my.salesforce.com",
            client_id="3MVG9-app",
            port=0,
            scope="api refresh_token",
        )
        async with flow:
            return flow, flow.authorize_url

    flow, url = asyncio.run(scenario())
    assert url.startswith("https://acme--uat.sandbox.my.salesforce.com/services/oauth2/authorize?")
    params = _query(url)
    assert params["response_type"] == "code"
    assert params["client_id"] == "3MVG9-app"
    assert params["code_challenge_method"] == "S256"
    assert params["state"] == flow.state
    assert params["scope"] == "api refresh_token"
    assert params["redirect_uri"].startswith("http://127.0.0.1:")
    assert params["redirect_uri"].endswith("/OauthRedirect")


def test_callback_with_the_right_state_is_exchanged_with_the_verifier(fake_sf: Any) -> None:
    async def scenario() -> tuple[dict[str, str], dict[str, str], str, int]:
        async with fake_sf.client() as http:
            flow = WebServerFlow(
                login_url="https://login.salesforce.com", client_id="app", port=0, http=http
            )
            async with flow:
                params = _query(flow.authorize_url)
                redirect = params["redirect_uri"]
                favicon = await _browser_hits(redirect.rsplit("/", 1)[0] + "/favicon.ico")
                page = await _browser_hits(f"{redirect}?code=aPrx-CODE&state={params['state']}")
                await flow.complete(timeout=5)
            assert favicon.status_code == 404
            return params, fake_sf.token_requests()[0], page.text, page.status_code

    params, form, page, status = asyncio.run(scenario())
    assert status == 200 and "logged in" in page
    assert form["grant_type"] == "authorization_code"
    assert form["code"] == "aPrx-CODE"
    assert form["redirect_uri"] == params["redirect_uri"]
    assert s256_challenge(form["code_verifier"]) == params["code_challenge"]


def test_state_mismatch_on_the_callback_is_refused_and_nothing_is_exchanged(fake_sf: Any) -> None:
    async def scenario() -> int:
        async with fake_sf.client() as http:
            flow = WebServerFlow(
                login_url="https://login.salesforce.com", client_id="app", port=0, http=http
            )
            async with flow:
                redirect = _query(flow.authorize_url)["redirect_uri"]
                page = await _browser_hits(f"{redirect}?code=stolen&state=forged")
                with pytest.raises(CallbackError, match="state"):
                    await flow.complete(timeout=5)
            return page.status_code

    assert asyncio.run(scenario()) == 400
    assert fake_sf.token_requests() == []


def test_access_denied_on_the_callback_is_reported(fake_sf: Any) -> None:
    async def scenario() -> None:
        async with fake_sf.client() as http:
            flow = WebServerFlow(
                login_url="https://login.salesforce.com", client_id="app", port=0, http=http
            )
            async with flow:
                state = _query(flow.authorize_url)["state"]
                redirect = _query(flow.authorize_url)["redirect_uri"]
                await _browser_hits(
                    f"{redirect}?error=access_denied&error_description=end-user+denied+authorization"
                    f"&state={state}"
                )
                await flow.complete(timeout=5)

    with pytest.raises(CallbackError, match="end-user denied authorization"):
        asyncio.run(scenario())


def test_no_callback_in_time_is_a_clear_timeout() -> None:
    async def scenario() -> None:
        async with WebServerFlow(
            login_url="https://login.salesforce.com", client_id="app", port=0
        ) as flow:
            await flow.complete(timeout=0.2)

    with pytest.raises(CallbackError, match="no login arrived"):
        asyncio.run(scenario())


def test_busy_port_gives_advice() -> None:
    async def scenario() -> None:
        async with WebServerFlow(
            login_url="https://login.salesforce.com", client_id="a", port=0
        ) as first:
            port = int(urlsplit(_query(first.authorize_url)["redirect_uri"]).port or 0)
            async with WebServerFlow(
                login_url="https://login.salesforce.com", client_id="a", port=port
            ):
                pass

    with pytest.raises(CallbackError, match="--port"):
        asyncio.run(scenario())


def test_redirect_uri_must_be_loopback() -> None:
    with pytest.raises(LoginUrlError, match="loopback"):
        WebServerFlow(
            login_url="https://login.salesforce.com",
            client_id="a",
            redirect_uri="https://evil.example/cb",
        )
