"""Fixtures for the auth tests: an isolated config dir and a scriptable fake token endpoint."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urljoin

import httpx2
import orjson
import pytest

_ENV_NAMES = (
    "SALESFORCE_ACCESS_TOKEN",
    "SALESFORCE_INSTANCE_URL",
    "SALESFORCE_CLIENT_ID",
    "SALESFORCE_CLIENT_SECRET",
    "SALESFORCE_LOGIN_URL",
    "SALESFORCE_USERNAME",
    "SALESFORCE_PASSWORD",
    "SALESFORCE_SECURITY_TOKEN",
    "SALESFORCE_AUTH_METHOD",
    "SALESFORCE_JWT_KEY_FILE",
    "SALESFORCE_PRIVATE_KEY_FILE",
    "SALESFORCE_JWT_KEY",
    "STORAGE_ENCRYPTION_KEY",
    "SFBULK_ORG",
    "SFBULK_DEVORG_URL",
    "SFBULK_SESSION_TIMEOUT",
)


@pytest.fixture
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private, empty config dir; secrets in a file; no SALESFORCE_* variables leak in."""
    directory = tmp_path / "config"
    monkeypatch.setenv("SFBULK_CONFIG_DIR", str(directory))
    monkeypatch.setenv("SFBULK_SECRETS", "file")
    for name in _ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    return directory


@dataclass
class FakeTokenEndpoint:
    """A Salesforce-like `/services/oauth2/*` answering from memory, recording every request."""

    instance_url: str = "https://acme.my.salesforce.com"
    rotate: bool = False
    issue_refresh: bool = True
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    revoked: set[str] = field(default_factory=set)
    fail_with: tuple[int, dict[str, str]] | None = None
    delay: float = 0.0
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def handler(self, request: httpx2.Request) -> httpx2.Response:
        form = dict(parse_qsl(request.content.decode())) if request.content else {}
        self.requests.append((request.method, str(request.url), form))
        if self.delay:
            time.sleep(self.delay)
        path = request.url.path
        if path.endswith("/userinfo"):
            return self._json(
                200,
                {
                    "preferred_username": "ada@acme.test",
                    "user_id": "005000000000001AAA",
                    "organization_id": "00D000000000001EAA",
                },
            )
        if path.endswith("/revoke"):
            token = form.get("token", "")
            if token not in self.access_tokens | self.refresh_tokens:
                return self._json(
                    400,
                    {
                        "error": "unsupported_token_type",
                        "error_description": "this token type is not supported",
                    },
                )
            self.revoked.add(token)
            return httpx2.Response(200)
        if self.fail_with is not None:
            status, body = self.fail_with
            return self._json(status, body)
        grant = form.get("grant_type")
        if grant == "refresh_token":
            old = form.get("refresh_token", "")
            if old not in self.refresh_tokens or old in self.revoked:
                return self._json(
                    400,
                    {"error": "invalid_grant", "error_description": "expired access/refresh token"},
                )
        return self._json(200, self._grant(grant))

    def _grant(self, grant: str | None) -> dict[str, Any]:
        n = next(self._counter)
        access = f"00Dfake!access-{n}-SECRET"
        self.access_tokens.add(access)
        body: dict[str, Any] = {
            "access_token": access,
            "instance_url": self.instance_url,
            "id": "https://login.salesforce.com/id/00D000000000001EAA/005000000000001AAA",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "signature": "c2lnbmF0dXJl",
            "scope": "api refresh_token",
        }
        wants_refresh = grant in {"authorization_code"} and self.issue_refresh
        if wants_refresh or (grant == "refresh_token" and self.rotate):
            refresh = f"5Aep-refresh-{n}-SECRET"
            self.refresh_tokens.add(refresh)
            body["refresh_token"] = refresh
        return body

    def add_refresh_token(self, token: str) -> str:
        self.refresh_tokens.add(token)
        return token

    def token_requests(self) -> list[dict[str, str]]:
        return [form for _, url, form in self.requests if url.endswith("/token")]

    def client(self) -> httpx2.AsyncClient:
        return httpx2.AsyncClient(transport=httpx2.MockTransport(self.handler))

    @staticmethod
    def _json(status: int, body: Any) -> httpx2.Response:
        return httpx2.Response(
            status, content=orjson.dumps(body), headers={"Content-Type": "application/json"}
        )


@pytest.fixture
def fake_sf() -> FakeTokenEndpoint:
    return FakeTokenEndpoint()


@pytest.fixture
def rsa_key_pem() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class _FormParser(HTMLParser):
    """Collects the first form of a page: action, method, inputs and submit buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.method = "get"
        self.fields: dict[str, str] = {}
        self.buttons: list[tuple[str, str]] = []
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if self._done:
            return
        if tag == "form" and self.action is None:
            self._in_form = True
            self.action = a.get("action", "")
            self.method = a.get("method", "get").lower()
        elif self._in_form and tag == "input" and a.get("name"):
            if a.get("type", "text") in {"submit", "button"}:
                self.buttons.append((a["name"], a.get("value", "")))
            else:
                self.fields[a["name"]] = a.get("value", "")
        elif self._in_form and tag == "button" and a.get("name"):
            self.buttons.append((a["name"], a.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


class FormBrowser:
    """Plays the user's browser on the devorg's login/allow pages, with plain HTTP."""

    def __init__(
        self, username: str = "admin@devorg.local", password: str = "devorg", choice: str = "allow"
    ) -> None:
        self.username = username
        self.password = password
        self.choice = choice
        self.pages: list[str] = []

    def log_in(self, authorize_url: str) -> httpx2.Response:
        """Open the URL, fill each form like a user would, follow redirects to the callback."""
        with httpx2.Client(follow_redirects=True, timeout=15) as browser:
            response = browser.get(authorize_url)
            for _ in range(5):
                if (
                    "html" not in response.headers.get("content-type", "")
                    or "<form" not in response.text
                ):
                    return response
                self.pages.append(response.text)
                form = _FormParser()
                form.feed(response.text)
                data = dict(form.fields)
                for name in list(data):
                    if "user" in name.lower():
                        data[name] = self.username
                    elif "pass" in name.lower():
                        data[name] = self.password
                chosen = [b for b in form.buttons if self.choice in (b[1] or b[0]).lower()]
                if chosen:
                    data[chosen[0][0]] = chosen[0][1]
                target = urljoin(str(response.url), form.action or "")
                if form.method == "post":
                    response = browser.post(target, data=data)
                else:
                    response = browser.get(target, params=data)
            return response


@pytest.fixture
def form_browser() -> FormBrowser:
    return FormBrowser()


@pytest.fixture
def browser_factory() -> type[FormBrowser]:
    return FormBrowser
