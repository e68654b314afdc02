"""Streamable HTTP: bearer validation and the OAuth 2.1 proxy, end to end over loopback."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx2
import pytest
import uvicorn
from mcp.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from sfbulk_mcp.devorg import DevOrg
from sfbulk_mcp.mcp.config import ServerConfig
from sfbulk_mcp.mcp.http.serve import HttpSettings, build_http_app
from sfbulk_mcp.mcp.http.storage import MemoryStorage, RedisStorage, Storage
from starlette.applications import Starlette

from .test_mcp_storage import redis_url  # noqa: F401  (fixture)

pytestmark = pytest.mark.anyio

CLIENT_REDIRECT = "http://127.0.0.1:9/callback"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: Starlette, port: int) -> Iterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "the MCP HTTP server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@asynccontextmanager
async def mcp_client(base: str, token: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with http, Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client:
        yield client


# -- bearer mode -------------------------------------------------------------------------------

async def test_bearer_mode_validates_the_callers_salesforce_token(
    devorg: DevOrg, tmp_path: Path
) -> None:
    port = _free_port()
    settings = HttpSettings(mode="bearer", base_url=f"http://127.0.0.1:{port}",
                            login_url=devorg.login_url)
    app = build_http_app(ServerConfig(data_dir=tmp_path), settings)
    with serving(app, port) as base:
        async with httpx2.AsyncClient() as http:
            refused = await http.post(f"{base}/mcp", json={})
            assert refused.status_code == 401
            challenge = refused.headers["www-authenticate"]
            assert challenge.startswith("Bearer ")
            assert f'resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"' in challenge
            metadata = (await http.get(f"{base}/.well-known/oauth-protected-resource/mcp")).json()
            assert metadata["resource"] == f"{base}/mcp"
            assert metadata["authorization_servers"] == [devorg.login_url.rstrip("/")] or \
                metadata["authorization_servers"] == [devorg.login_url.rstrip("/") + "/"]
            forged = await http.post(
                f"{base}/mcp", json={}, headers={"Authorization": "Bearer 00Dforged!token"}
            )
            assert forged.status_code == 401
        # Two users at once: each call runs as its own caller, never through another's client.
        other_id = devorg.add_user("bearer-second@devorg.local")
        admin_id = devorg.store.query(
            "SELECT Id FROM User WHERE Username = 'admin@devorg.local'").records[0]["Id"]
        tag = secrets.token_hex(4)
        for username, user_id in (("admin@devorg.local", admin_id),
                                  ("bearer-second@devorg.local", other_id)):
            async with mcp_client(base, devorg.access_token(username)) as client:
                made = await client.call_tool("salesforce_create_record", {
                    "object_name": "Account", "data": {"Name": f"{tag} {username}"}})
                got = await client.call_tool("salesforce_get_record", {
                    "object_name": "Account", "record_id": made.structured_content["record_id"],
                    "fields": ["CreatedById"]})
                assert got.structured_content["record"]["CreatedById"] == user_id


# -- proxy mode: the whole OAuth dance --------------------------------------------------------

class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form" and not self.action:
            self.action = values.get("action", "")
        if tag == "input" and values.get("name") and values.get("type") != "submit":
            self.fields[values["name"]] = values.get("value", "")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    return verifier, challenge.rstrip("=")


async def _authorize(
    http: httpx2.AsyncClient, base: str, client_id: str, username: str, password: str
) -> tuple[str, str]:
    """Run the browser part: our /authorize → devorg login page → our callback → the client."""
    verifier, challenge = _pkce()
    state = secrets.token_urlsafe(8)
    start = await http.get(f"{base}/authorize", params={
        "response_type": "code", "client_id": client_id, "redirect_uri": CLIENT_REDIRECT,
        "code_challenge": challenge, "code_challenge_method": "S256", "state": state,
        "resource": f"{base}/mcp",
    })
    assert start.status_code == 302, start.text
    login_page_url = start.headers["location"]
    page = await http.get(login_page_url)
    assert page.status_code == 200 and "<form" in page.text
    form = _Form()
    form.feed(page.text)
    fields = {**form.fields, "username": username, "password": password, "action": "allow"}
    posted = await http.post(urljoin(login_page_url, form.action), data=fields)
    assert posted.status_code in (302, 303), posted.text
    callback = posted.headers["location"]
    assert callback.startswith(f"{base}/oauth/callback")
    back = await http.get(callback)
    assert back.status_code == 302
    final = urlsplit(back.headers["location"])
    assert f"{final.scheme}://{final.netloc}{final.path}" == CLIENT_REDIRECT
    query = parse_qs(final.query)
    assert query["state"] == [state]
    return query["code"][0], verifier


async def _token(http: httpx2.AsyncClient, base: str, form: dict[str, str]) -> httpx2.Response:
    return await http.post(f"{base}/token", content=urlencode(form),
                           headers={"Content-Type": "application/x-www-form-urlencoded"})


@contextmanager
def proxy_servers(
    org: DevOrg, tmp_path: Path, storages: list[Storage]
) -> Iterator[list[str]]:
    """One proxy replica per storage, all registered with the org's connected app."""
    ports = [_free_port() for _ in storages]
    org.add_connected_app(
        "mcp-proxy", secret="proxy-secret", require_pkce=True,
        redirect_uris=[f"http://127.0.0.1:{p}/oauth/callback" for p in ports],
    )
    with __import__("contextlib").ExitStack() as stack:
        bases = []
        for port, storage in zip(ports, storages):
            # Replicas of one deployment share one public BASE_URL; here each has its own.
            settings = HttpSettings(
                mode="proxy", base_url=f"http://127.0.0.1:{port}", login_url=org.login_url,
                client_id="mcp-proxy", client_secret="proxy-secret",
            )
            app = build_http_app(ServerConfig(data_dir=tmp_path / str(port)), settings,
                                 storage=storage)
            bases.append(stack.enter_context(serving(app, port)))
        yield bases


async def _register(http: httpx2.AsyncClient, base: str) -> str:
    registered = await http.post(f"{base}/register", json={
        "redirect_uris": [CLIENT_REDIRECT], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
        "client_name": "test client",
    })
    assert registered.status_code == 201, registered.text
    return str(registered.json()["client_id"])


async def _login(http: httpx2.AsyncClient, base: str, client_id: str, user: str) -> dict[str, Any]:
    code, verifier = await _authorize(http, base, client_id, user, "devorg")
    granted = await _token(http, base, {
        "grant_type": "authorization_code", "code": code, "redirect_uri": CLIENT_REDIRECT,
        "client_id": client_id, "code_verifier": verifier,
    })
    assert granted.status_code == 200, granted.text
    body: dict[str, Any] = granted.json()
    return body


async def test_proxy_mode_runs_the_whole_oauth_dance_and_keeps_users_apart(
    fresh_devorg: DevOrg, tmp_path: Path
) -> None:
    org = fresh_devorg
    org.store.create("Account", {"Name": "Proxy Co"})
    org.add_user("second@devorg.local")
    with proxy_servers(org, tmp_path, [MemoryStorage("k")]) as [base]:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as http:
            meta = (await http.get(f"{base}/.well-known/oauth-authorization-server")).json()
            assert meta["issuer"].rstrip("/") == base
            assert meta["authorization_endpoint"] == f"{base}/authorize"
            assert meta["registration_endpoint"] == f"{base}/register"
            assert "S256" in meta["code_challenge_methods_supported"]
            prm = (await http.get(f"{base}/.well-known/oauth-protected-resource/mcp")).json()
            assert [s.rstrip("/") for s in prm["authorization_servers"]] == [base]
            unauthenticated = await http.post(f"{base}/mcp", json={})
            assert unauthenticated.status_code == 401
            assert "resource_metadata=" in unauthenticated.headers["www-authenticate"]

            client_id = await _register(http, base)
            # PKCE is enforced: a wrong verifier gets nothing.
            code, _ = await _authorize(http, base, client_id, "admin@devorg.local", "devorg")
            wrong = await _token(http, base, {
                "grant_type": "authorization_code", "code": code,
                "redirect_uri": CLIENT_REDIRECT, "client_id": client_id,
                "code_verifier": secrets.token_urlsafe(48),
            })
            assert wrong.status_code == 400

            first = await _login(http, base, client_id, "admin@devorg.local")
            second = await _login(http, base, client_id, "second@devorg.local")
            assert first["token_type"] == "Bearer" and first["expires_in"] <= 3600
            assert not first["access_token"].startswith("00D")  # our token, not Salesforce's

            async with mcp_client(base, first["access_token"]) as alice:
                mine = await alice.call_tool("salesforce_query", {
                    "query": "SELECT Id, Name FROM Account", "output": "file"})
                assert mine.structured_content["file_rows"] == 1
                uri = mine.structured_content["resource_uri"]
                assert (await alice.read_resource(uri)).contents
                paged = await alice.call_tool("salesforce_query", {
                    "query": "SELECT Id, Name FROM User"})
                assert not paged.is_error

                # Salesforce sessions expire: the proxy refreshes upstream, the user sees nothing.
                org.faults.expire_sessions()
                again = await alice.call_tool("salesforce_query", {
                    "query": "SELECT Id, Name FROM Account"})
                assert not again.is_error, again.content[0].text

            async with mcp_client(base, second["access_token"]) as bob:
                with pytest.raises(MCPError, match="another session"):
                    await bob.read_resource(uri)
                own = await bob.call_tool("salesforce_query", {"query": "SELECT Id FROM Account"})
                assert not own.is_error

            # Our refresh tokens rotate.
            refreshed = await _token(http, base, {
                "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                "client_id": client_id,
            })
            assert refreshed.status_code == 200, refreshed.text
            reused = await _token(http, base, {
                "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
                "client_id": client_id,
            })
            assert reused.status_code == 400
            async with mcp_client(base, refreshed.json()["access_token"]) as alice_again:
                assert not (await alice_again.call_tool(
                    "salesforce_query", {"query": "SELECT Id FROM Account"})).is_error


async def test_proxy_replicas_share_sessions_through_redis(
    fresh_devorg: DevOrg, tmp_path: Path, redis_url: str  # noqa: F811
) -> None:
    storages: list[Storage] = [RedisStorage(redis_url, "replica-key"),
                               RedisStorage(redis_url, "replica-key")]
    with proxy_servers(fresh_devorg, tmp_path, storages) as [one, two]:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as http:
            client_id = await _register(http, one)
            granted = await _login(http, one, client_id, "admin@devorg.local")
        # A token issued by one replica works on the other.
        async with mcp_client(two, granted["access_token"]) as client:
            result = await client.call_tool("salesforce_query", {"query": "SELECT Id FROM Account"})
            assert not result.is_error


class _MemoryTokens:
    """Token storage of the SDK's OAuth client, kept in memory for one test."""

    def __init__(self) -> None:
        self.tokens: Any = None
        self.client: Any = None

    async def get_tokens(self) -> Any:
        return self.tokens

    async def set_tokens(self, tokens: Any) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> Any:
        return self.client

    async def set_client_info(self, client_info: Any) -> None:
        self.client = client_info


async def test_the_sdk_oauth_client_discovers_registers_and_logs_in_by_itself(
    fresh_devorg: DevOrg, tmp_path: Path
) -> None:
    from mcp.client.auth import OAuthClientProvider
    from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

    fresh_devorg.store.create("Account", {"Name": "Discovered"})
    with proxy_servers(fresh_devorg, tmp_path, [MemoryStorage("k")]) as [base]:
        landed: dict[str, str] = {}

        async def browser(url: str) -> None:
            # Play the user's browser: our /authorize, Salesforce's login page, back to us.
            async with httpx2.AsyncClient(follow_redirects=False, timeout=30) as http:
                start = await http.get(url)
                page = await http.get(start.headers["location"])
                form = _Form()
                form.feed(page.text)
                posted = await http.post(
                    urljoin(str(page.url), form.action),
                    data={**form.fields, "username": "admin@devorg.local",
                          "password": "devorg", "action": "allow"},
                )
                back = await http.get(posted.headers["location"])
                query = parse_qs(urlsplit(back.headers["location"]).query)
                landed.update(code=query["code"][0], state=query["state"][0])

        async def callback() -> AuthorizationCodeResult:
            return AuthorizationCodeResult(code=landed["code"], state=landed["state"])

        auth = OAuthClientProvider(
            server_url=f"{base}/mcp",
            client_metadata=OAuthClientMetadata(
                client_name="sdk client", redirect_uris=[CLIENT_REDIRECT],  # type: ignore[list-item]
                grant_types=["authorization_code", "refresh_token"], response_types=["code"],
            ),
            storage=_MemoryTokens(),
            redirect_handler=browser,
            callback_handler=callback,
        )
        async with (
            httpx2.AsyncClient(auth=auth, timeout=30) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            result = await client.call_tool("salesforce_query", {"query": "SELECT Name FROM Account"})
        assert result.structured_content["records"] == [{"Name": "Discovered"}]


async def test_remote_callers_cannot_read_server_files_or_see_paths(
    devorg: DevOrg, tmp_path: Path
) -> None:
    secret = tmp_path / "server-only.csv"
    secret.write_text("Name\nfrom the server disk\n")
    port = _free_port()
    settings = HttpSettings(mode="bearer", base_url=f"http://127.0.0.1:{port}",
                            login_url=devorg.login_url)
    app = build_http_app(ServerConfig(data_dir=tmp_path / "data"), settings)
    with serving(app, port) as base:
        async with mcp_client(base, devorg.access_token()) as client:
            refused = await client.call_tool(
                "salesforce_bulk_insert", {"object_name": "Account", "file_path": str(secret)})
            saved = await client.call_tool("salesforce_query", {
                "query": "SELECT Id FROM Account LIMIT 3", "output": "file"})
    assert refused.is_error and "does not read local files" in refused.content[0].text
    assert saved.structured_content["file_path"] is None
    assert str(tmp_path) not in saved.content[0].text


async def test_a_second_user_cannot_ride_the_first_users_session_or_cursor(
    devorg: DevOrg, tmp_path: Path
) -> None:
    for i in range(3):
        devorg.store.create("Account", {"Name": f"Cursor {secrets.token_hex(3)} {i}"})
    devorg.add_user("rider@devorg.local")
    first, second = devorg.access_token(), devorg.access_token("rider@devorg.local")
    port = _free_port()
    settings = HttpSettings(mode="bearer", base_url=f"http://127.0.0.1:{port}",
                            login_url=devorg.login_url)
    app = build_http_app(ServerConfig(data_dir=tmp_path, max_result_bytes=1_000), settings)
    headers = {"Accept": "application/json, text/event-stream",
               "Content-Type": "application/json", "MCP-Protocol-Version": "2025-06-18"}
    with serving(app, port) as base:
        async with httpx2.AsyncClient(timeout=30) as http:
            opened = await http.post(f"{base}/mcp", headers={
                **headers, "Authorization": f"Bearer {first}"}, json={
                "jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": {"name": "first", "version": "1"}}})
            session = opened.headers["mcp-session-id"]
            hijack = await http.post(f"{base}/mcp", headers={
                **headers, "Authorization": f"Bearer {second}", "Mcp-Session-Id": session},
                json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
            assert hijack.status_code in (403, 404)
        async with mcp_client(base, first) as alice:
            page = await alice.call_tool("salesforce_query", {
                "query": "SELECT Id, Name, Owner.Name, CreatedDate FROM Account"})
            cursor = page.structured_content["next_cursor"]
            assert cursor
        async with mcp_client(base, first) as alice:
            saved = await alice.call_tool("salesforce_query", {
                "query": "SELECT Id FROM Account", "output": "file"})
            mine = [str(r.uri) for r in (await alice.list_resources()).resources]
            assert saved.structured_content["resource_uri"] in mine
        async with mcp_client(base, second) as bob:
            stolen = await bob.call_tool("salesforce_query_more", {"cursor": cursor})
            assert stolen.is_error and "unknown or expired cursor" in stolen.content[0].text
            assert not (await bob.list_resources()).resources
        async with mcp_client(base, first) as alice_again:
            resumed = await alice_again.call_tool("salesforce_query_more", {"cursor": cursor})
            assert not resumed.is_error
