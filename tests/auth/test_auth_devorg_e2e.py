"""Every login flow end to end against a devorg over loopback, and what happens afterwards:
renewal before and after expiry, rotation, revocation, and secrets kept out of every output."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import orjson
import pytest
from click.testing import CliRunner
from sfbulk_mcp.auth.errors import LoginRequiredError
from sfbulk_mcp.auth.login import login_client_credentials, login_jwt, login_password, logout
from sfbulk_mcp.auth.providers import PasswordProvider, RefreshTokenProvider
from sfbulk_mcp.auth.resolve import open_org
from sfbulk_mcp.auth.store import OrgStore
from sfbulk_mcp.auth.webflow import WebServerFlow
from sfbulk_mcp.cli.main import cli
from sfbulk_mcp.salesforce.client import SalesforceClient
from sfbulk_mcp.salesforce.errors import AuthError

devorg_module = pytest.importorskip("sfbulk_mcp.devorg")
DevOrg: Any = getattr(devorg_module, "DevOrg", None)
if DevOrg is None:  # pragma: no cover - the devorg is built alongside
    pytest.skip("the devorg is not available", allow_module_level=True)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One devorg for the module; tests that change its behaviour use their own."""
    with DevOrg(seed=0, data_dir=tmp_path_factory.mktemp("devorg")) as running:
        yield running


@pytest.fixture
def short_org(tmp_path: Path) -> Iterator[Any]:
    """A devorg whose access tokens live one second."""
    with DevOrg(seed=0, token_ttl=1, data_dir=tmp_path / "devorg") as running:
        yield running


def _store(config_dir: Path) -> OrgStore:
    return OrgStore(config_dir, env={"SFBULK_SECRETS": "file"})


def _self_signed(pem_key: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key = serialization.load_pem_private_key(pem_key, password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfbulk-jwt-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


async def _whoami(token: Any) -> str:
    async with httpx2.AsyncClient() as http:
        response = await http.get(
            f"{token.instance_url}/services/oauth2/userinfo",
            headers={"Authorization": f"Bearer {token.access_token}"},
        )
    response.raise_for_status()
    return str(orjson.loads(response.content)["preferred_username"])


def _web_login(org: Any, config_dir: Path, browser: Any, **flow_args: Any) -> Any:
    async def scenario() -> Any:
        flow = WebServerFlow(
            login_url=org.login_url,
            client_id=flow_args.pop("client_id", "sfbulk-devorg"),
            port=0,
            **flow_args,
        )
        async with flow:
            await asyncio.to_thread(browser.log_in, flow.authorize_url)
            return await flow.complete(timeout=10)

    return asyncio.run(scenario())


def _save_web(
    store: OrgStore, org: Any, grant: Any, alias: str, client_id: str = "sfbulk-devorg"
) -> None:
    """Store a web-flow grant the way `sfbulk login` does."""
    from sfbulk_mcp.auth.login import save_grant

    asyncio.run(
        save_grant(
            store, grant, alias=alias, method="web", login_url=org.login_url, client_id=client_id
        )
    )


# -- web server flow with PKCE ---------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_cli_web_login_with_no_browser_stores_a_working_org(
    org: Any, config_dir: Path, form_browser: Any
) -> None:
    env = {**os.environ, "SFBULK_CONFIG_DIR": str(config_dir), "SFBULK_SECRETS": "file"}
    command = [
        sys.executable,
        "-c",
        "from sfbulk_mcp.cli.main import main; main()",
        "login",
        "--instance-url",
        org.instance_url,
        "--alias",
        "dev",
        "--no-browser",
        "--port",
        str(_free_port()),
        "--set-default",
        "--timeout",
        "30",
        "--json",
    ]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stderr is not None
        printed = []
        url = None
        while url is None:
            line = process.stderr.readline()  # prompts go to stderr; stdout is the result
            assert line, "login ended early"
            printed.append(line)
            if "/services/oauth2/authorize?" in line:
                url = line.strip()
        final = form_browser.log_in(url)
        assert final.status_code == 200
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    stored = orjson.loads(out)  # --json: nothing but the stored org on stdout
    assert (stored["alias"], stored["username"]) == ("dev", "admin@devorg.local")

    store = _store(config_dir)
    record = store.get("dev")
    assert (record.auth_method, record.username, record.is_default) == (
        "web",
        "admin@devorg.local",
        True,
    )
    secrets = store.secrets("dev")
    assert secrets.refresh_token and secrets.access_token
    for text in ("".join(printed), out, err):
        assert secrets.access_token not in text
        assert secrets.refresh_token not in text

    listed = CliRunner().invoke(
        cli,
        ["orgs", "--json"],
        env={"SFBULK_CONFIG_DIR": str(config_dir), "SFBULK_SECRETS": "file"},
    )
    assert listed.exit_code == 0, listed.output
    rows = orjson.loads(listed.output)
    assert rows[0]["alias"] == "dev" and rows[0]["is_default"] is True
    assert rows[0]["auth_method"] == "web" and rows[0]["instance_url"] == org.instance_url
    assert secrets.access_token not in listed.output

    async def use_it() -> str:
        async with open_org("dev", store=store, env={}) as resolved:
            return await _whoami(await resolved.token())

    assert asyncio.run(use_it()) == "admin@devorg.local"


def test_web_flow_with_a_confidential_app_that_requires_pkce(
    org: Any, config_dir: Path, form_browser: Any
) -> None:
    org.add_connected_app("web-confidential", secret="web-SECRET", require_pkce=True)
    grant = _web_login(
        org, config_dir, form_browser, client_id="web-confidential", client_secret="web-SECRET"
    )
    assert grant.refresh_token
    assert asyncio.run(_whoami(grant.token)) == "admin@devorg.local"
    with pytest.raises(AuthError) as caught:
        _web_login(
            org,
            config_dir,
            form_browser,
            client_id="web-confidential",
            client_secret="wrong-SECRET",
        )
    assert caught.value.error_code == "invalid_client"
    assert "wrong-SECRET" not in str(caught.value)


def test_web_flow_exchange_with_a_wrong_pkce_verifier_is_refused(
    org: Any, form_browser: Any
) -> None:
    async def scenario() -> None:
        async with WebServerFlow(
            login_url=org.login_url, client_id="sfbulk-devorg", port=0
        ) as flow:
            await asyncio.to_thread(form_browser.log_in, flow.authorize_url)
            code = await flow.wait_for_code(timeout=10)
            await flow.exchange(code, code_verifier="x" * 64)

    with pytest.raises(AuthError) as caught:
        asyncio.run(scenario())
    assert caught.value.error_code == "invalid_grant"
    message = str(caught.value)
    assert "refused the authorization code: invalid code verifier" in message
    assert "PKCE code verifier does not match" in message  # and what to do about it


def test_denied_login_is_reported(org: Any, config_dir: Path, browser_factory: Any) -> None:
    from sfbulk_mcp.auth.errors import CallbackError

    with pytest.raises(CallbackError, match="refused the login"):
        _web_login(org, config_dir, browser_factory(choice="deny"))


def test_wrong_password_on_the_login_page_never_reaches_the_callback(
    org: Any, config_dir: Path, browser_factory: Any
) -> None:
    browser = browser_factory(password="wrong")

    async def scenario() -> None:
        async with WebServerFlow(
            login_url=org.login_url, client_id="sfbulk-devorg", port=0
        ) as flow:
            await asyncio.to_thread(browser.log_in, flow.authorize_url)
            await flow.complete(timeout=1)

    from sfbulk_mcp.auth.errors import CallbackError

    with pytest.raises(CallbackError, match="no login arrived"):
        asyncio.run(scenario())


# -- refresh tokens ----------------------------------------------------------------------------


def test_rotated_refresh_tokens_are_persisted_at_once(
    org: Any, config_dir: Path, form_browser: Any
) -> None:
    org.add_connected_app("rotating-app", rotate_refresh_tokens=True)
    grant = _web_login(org, config_dir, form_browser, client_id="rotating-app")
    store = _store(config_dir)
    _save_web(store, org, grant, "rot", client_id="rotating-app")
    first_refresh = store.secrets("rot").refresh_token
    assert first_refresh == grant.refresh_token

    async def renew_twice() -> None:
        async with open_org("rot", store=store, env={}) as resolved:
            token = await resolved.token()
            token = await resolved.refresh(token)
            await resolved.refresh(token)

    asyncio.run(renew_twice())
    saved = _store(config_dir).secrets("rot")
    assert saved.refresh_token not in (None, first_refresh)
    # A later process picks up the newest refresh token and can renew again.
    asyncio.run(renew_twice())

    async def old_token_is_dead() -> None:
        provider = RefreshTokenProvider(
            login_url=org.login_url,
            client_id="rotating-app",
            refresh_token=str(first_refresh),
            alias="rot",
        )
        await provider.token()

    with pytest.raises(LoginRequiredError, match="sfbulk login --alias rot"):
        asyncio.run(old_token_is_dead())


def test_two_processes_sharing_a_rotating_org_both_keep_working(
    org: Any, config_dir: Path, form_browser: Any
) -> None:
    org.add_connected_app("rotating-app-2", rotate_refresh_tokens=True)
    grant = _web_login(org, config_dir, form_browser, client_id="rotating-app-2")
    _save_web(_store(config_dir), org, grant, "shared", client_id="rotating-app-2")

    async def scenario() -> tuple[str, str]:
        # Two independent resolutions = two processes that loaded the same stored org.
        async with (
            open_org("shared", store=_store(config_dir), env={}) as first,
            open_org("shared", store=_store(config_dir), env={}) as second,
        ):
            renewed_a = await first.refresh(await first.token())  # rotates the refresh token
            renewed_b = await second.refresh(await second.token())  # still holds the old one
            return await _whoami(renewed_a), await _whoami(renewed_b)

    assert asyncio.run(scenario()) == ("admin@devorg.local", "admin@devorg.local")


def test_revoked_refresh_token_asks_to_log_in_again(
    org: Any, config_dir: Path, form_browser: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    grant = _web_login(org, config_dir, form_browser)
    store = _store(config_dir)
    _save_web(store, org, grant, "gone")
    provider = RefreshTokenProvider(
        login_url=org.login_url,
        client_id="sfbulk-devorg",
        refresh_token=str(grant.refresh_token),
        alias="gone",
    )
    outcome = asyncio.run(logout(store, "gone"))
    assert outcome.revoked
    assert store.find("gone") is None

    async def renew() -> None:
        await provider.refresh(grant.token)

    with pytest.raises(LoginRequiredError) as caught:
        asyncio.run(renew())
    assert "run `sfbulk login --alias gone`" in str(caught.value)
    for text in (str(caught.value), caplog.text):
        assert grant.token.access_token not in text
        assert str(grant.refresh_token) not in text

    async def old_access_token_is_dead() -> None:
        await _whoami(grant.token)

    with pytest.raises(httpx2.HTTPStatusError):
        asyncio.run(old_access_token_is_dead())


# -- JWT bearer, client credentials, password --------------------------------------------------


def test_jwt_bearer_login_and_renewal(
    org: Any, config_dir: Path, rsa_key_pem: bytes, tmp_path: Path
) -> None:
    org.add_connected_app("jwt-app", certificate_pem=_self_signed(rsa_key_pem))
    key_file = tmp_path / "server.key"
    key_file.write_bytes(rsa_key_pem)
    store = _store(config_dir)
    result = asyncio.run(
        login_jwt(
            store,
            login_url=org.login_url,
            client_id="jwt-app",
            username="admin@devorg.local",
            key_file=key_file,
            alias="ci",
        )
    )
    assert (result.record.auth_method, result.record.jwt_key_file) == ("jwt", str(key_file))

    async def renew_and_use() -> str:
        async with open_org("ci", store=store, env={}) as resolved:
            token = await resolved.refresh(await resolved.token())
            return await _whoami(token)

    assert asyncio.run(renew_and_use()) == "admin@devorg.local"


def test_jwt_signed_with_another_key_is_refused(
    org: Any, config_dir: Path, rsa_key_pem: bytes, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    org.add_connected_app("jwt-app-2", certificate_pem=_self_signed(rsa_key_pem))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = tmp_path / "other.key"
    key_file.write_bytes(other)
    with pytest.raises(AuthError) as caught:
        asyncio.run(
            login_jwt(
                _store(config_dir),
                login_url=org.login_url,
                client_id="jwt-app-2",
                username="admin@devorg.local",
                key_file=key_file,
            )
        )
    assert caught.value.error_code == "invalid_grant"


def test_client_credentials_login(org: Any, config_dir: Path) -> None:
    org.add_connected_app("m2m-app", secret="m2m-SECRET", run_as="admin@devorg.local")
    store = _store(config_dir)
    result = asyncio.run(
        login_client_credentials(
            store,
            login_url=org.login_url,
            client_id="m2m-app",
            client_secret="m2m-SECRET",
            alias="m2m",
        )
    )
    assert result.record.username == "admin@devorg.local"
    assert "m2m-SECRET" not in (config_dir / "orgs.json").read_text()

    async def renew() -> str:
        async with open_org("m2m", store=store, env={}) as resolved:
            return await _whoami(await resolved.refresh(await resolved.token()))

    assert asyncio.run(renew()) == "admin@devorg.local"


def test_client_credentials_with_a_wrong_secret_is_refused(org: Any, config_dir: Path) -> None:
    org.add_connected_app("m2m-app-2", secret="right", run_as="admin@devorg.local")
    with pytest.raises(AuthError) as caught:
        asyncio.run(
            login_client_credentials(
                _store(config_dir),
                login_url=org.login_url,
                client_id="m2m-app-2",
                client_secret="wrong-SECRET",
            )
        )
    assert "wrong-SECRET" not in str(caught.value)


def test_password_login_with_security_token(org: Any, config_dir: Path) -> None:
    org.add_user("ops@devorg.local", password="pw", security_token="TOKEN123")
    store = _store(config_dir)
    result = asyncio.run(
        login_password(
            store,
            login_url=org.login_url,
            client_id="sfbulk-devorg",
            username="ops@devorg.local",
            password="pw",
            security_token="TOKEN123",
            alias="ops",
        )
    )
    assert result.record.username == "ops@devorg.local"
    with pytest.raises(AuthError) as caught:
        asyncio.run(
            login_password(
                store,
                login_url=org.login_url,
                client_id="sfbulk-devorg",
                username="ops@devorg.local",
                password="pw",
                security_token="WRONG",
                alias="ops2",
            )
        )
    assert caught.value.error_code == "invalid_grant"


def test_env_password_login_reaches_the_devorg(org: Any, config_dir: Path) -> None:
    env = {
        "SALESFORCE_USERNAME": "admin@devorg.local",
        "SALESFORCE_PASSWORD": "devorg",
        "SALESFORCE_LOGIN_URL": org.login_url,
    }

    async def scenario() -> str:
        async with open_org(None, store=_store(config_dir), env=env) as resolved:
            assert resolved.auth_method == "password"
            return await _whoami(await resolved.token())

    assert asyncio.run(scenario()) == "admin@devorg.local"


# -- expiry --------------------------------------------------------------------------------------


def test_expiry_mid_work_is_renewed_once_for_many_concurrent_calls(short_org: Any) -> None:
    provider = PasswordProvider(
        login_url=short_org.login_url,
        client_id="sfbulk-devorg",
        username="admin@devorg.local",
        password="devorg",
    )

    async def scenario() -> int:
        client = SalesforceClient(provider)
        try:
            first = await client.query("SELECT Id FROM User")
            assert first["totalSize"] >= 1
            before = provider.renewals
            await asyncio.sleep(1.3)  # every session of this org is now expired
            results = await asyncio.gather(*(client.query("SELECT Id FROM User") for _ in range(8)))
            assert all(r["totalSize"] == first["totalSize"] for r in results)
        finally:
            await client.aclose()
        return provider.renewals - before

    assert asyncio.run(scenario()) == 1  # eight callers saw the 401; one shared renewal


def test_tokens_are_renewed_before_they_expire(tmp_path: Path) -> None:
    # Two-second sessions, renewed when less than one second is left: every request goes
    # out with at least a second to spare, so none of them may ever see a 401.
    with DevOrg(seed=0, token_ttl=2, data_dir=tmp_path / "devorg") as two_second_org:
        provider = PasswordProvider(
            login_url=two_second_org.login_url,
            client_id="sfbulk-devorg",
            username="admin@devorg.local",
            password="devorg",
            session_timeout=2.0,
            refresh_margin=1.0,
        )

        async def scenario() -> list[str]:
            seen = []
            for _ in range(3):
                token = await provider.token()
                seen.append(await _whoami(token))  # raises on any refusal
                await asyncio.sleep(1.1)
            return seen

        assert asyncio.run(scenario()) == ["admin@devorg.local"] * 3
    assert provider.renewals >= 2


def test_expired_sessions_are_renewed_from_the_store(
    short_org: Any, config_dir: Path, form_browser: Any
) -> None:
    grant = _web_login(short_org, config_dir, form_browser)
    store = _store(config_dir)
    _save_web(store, short_org, grant, "short")
    short_org.faults.expire_sessions()

    async def scenario() -> int:
        async with open_org("short", store=store, env={}) as resolved:
            client = SalesforceClient(resolved)
            try:
                result = await client.query("SELECT Id FROM User")
            finally:
                await client.aclose()
            return int(result["totalSize"])

    assert asyncio.run(scenario()) >= 1
    assert store.secrets("short").access_token != grant.token.access_token


# -- logout, orgs, devorg alias ---------------------------------------------------------------


def test_cli_logout_revokes_and_forgets(org: Any, config_dir: Path) -> None:
    store = _store(config_dir)
    asyncio.run(
        login_password(
            store,
            login_url=org.login_url,
            client_id="sfbulk-devorg",
            username="admin@devorg.local",
            password="devorg",
            alias="a1",
        )
    )
    asyncio.run(
        login_password(
            store,
            login_url=org.login_url,
            client_id="sfbulk-devorg",
            username="admin@devorg.local",
            password="devorg",
            alias="a2",
        )
    )
    token = store.secrets("a1").access_token
    env = {"SFBULK_CONFIG_DIR": str(config_dir), "SFBULK_SECRETS": "file"}
    table = CliRunner().invoke(cli, ["orgs"], env=env)
    assert table.exit_code == 0
    assert (
        "a1" in table.output and "admin@devorg.local" in table.output and "password" in table.output
    )
    result = CliRunner().invoke(cli, ["logout", "--alias", "a1"], env=env)
    assert result.exit_code == 0, result.output
    assert "revoked" in result.output
    assert [r.alias for r in store.list_orgs()] == ["a2"]
    assert "a1" not in (config_dir / "secrets.json").read_text()

    async def dead() -> None:
        from sfbulk_mcp.salesforce.credentials import Token

        await _whoami(Token(access_token=str(token), instance_url=org.instance_url))

    with pytest.raises(httpx2.HTTPStatusError):
        asyncio.run(dead())
    result = CliRunner().invoke(cli, ["logout", "--all"], env=env)
    assert result.exit_code == 0
    assert store.list_orgs() == []


def test_devorg_alias_uses_a_running_devorg(org: Any, config_dir: Path) -> None:
    async def scenario() -> tuple[str, str]:
        async with open_org(
            "devorg", store=_store(config_dir), env={"SFBULK_DEVORG_URL": org.instance_url}
        ) as resolved:
            return resolved.source, await _whoami(await resolved.token())

    assert asyncio.run(scenario()) == ("devorg", "admin@devorg.local")


def test_devorg_alias_starts_an_embedded_org_when_none_runs(config_dir: Path) -> None:
    env = {"SFBULK_DEVORG_URL": f"http://127.0.0.1:{_free_port()}", "SFBULK_DEVORG_SEED": "3"}

    async def scenario() -> tuple[str, int, str]:
        async with open_org("devorg", store=_store(config_dir), env=env) as resolved:
            client = SalesforceClient(resolved)
            try:
                result = await client.query("SELECT Id FROM Account")
            finally:
                await client.aclose()
            return resolved.source, int(result["totalSize"]), str(resolved.instance_url)

    source, accounts, url = asyncio.run(scenario())
    assert source == "devorg-embedded"
    assert accounts == 3
    with pytest.raises(httpx2.TransportError):  # stopped with the context
        httpx2.get(f"{url}/services/data/", timeout=2)


def test_no_token_reaches_any_log_during_a_full_session(
    org: Any, config_dir: Path, form_browser: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx2/httpcore, the devorg's
    org.add_connected_app("logged-app", rotate_refresh_tokens=True)
    grant = _web_login(org, config_dir, form_browser, client_id="logged-app")
    store = _store(config_dir)
    _save_web(store, org, grant, "logged", client_id="logged-app")
    org.faults.expire_sessions()

    async def work() -> None:
        async with open_org("logged", store=store, env={}) as resolved:
            client = SalesforceClient(resolved)
            try:
                await client.query("SELECT Id FROM User")
            finally:
                await client.aclose()

    asyncio.run(work())
    renewed = store.secrets("logged")
    asyncio.run(logout(store, "logged"))
    secrets = {
        grant.token.access_token,
        str(grant.refresh_token),
        str(renewed.access_token),
        str(renewed.refresh_token),
    }
    assert len(secrets) == 4
    assert caplog.records  # the session did log
    for secret in secrets:
        assert secret not in caplog.text


# -- faults on the token endpoint ----------------------------------------------------------------


def test_login_rides_out_a_503_and_429_storm_on_the_token_endpoint(
    org: Any, config_dir: Path
) -> None:
    org.faults.fail_requests(503, 1, path="/services/oauth2/token")
    org.faults.fail_requests(429, 1, path="/services/oauth2/token")
    try:
        result = asyncio.run(
            login_password(
                _store(config_dir),
                login_url=org.login_url,
                client_id="sfbulk-devorg",
                username="admin@devorg.local",
                password="devorg",
                alias="storm",
            )
        )
    finally:
        org.faults.reset()
    assert result.record.username == "admin@devorg.local"


def test_a_dropped_token_answer_is_retried_only_when_nothing_is_lost(
    org: Any, config_dir: Path, form_browser: Any
) -> None:
    # A password grant can be asked for again: the dropped answer is retried.
    org.faults.drop_connection(10, 1, path="/services/oauth2/token")
    try:
        provider = PasswordProvider(
            login_url=org.login_url,
            client_id="sfbulk-devorg",
            username="admin@devorg.local",
            password="devorg",
        )
        assert asyncio.run(_whoami(asyncio.run(provider.token()))) == "admin@devorg.local"
    finally:
        org.faults.reset()
    # A rotating refresh token may already be spent: no blind retry, a clear error instead.
    org.add_connected_app("rotating-app-3", rotate_refresh_tokens=True)
    grant = _web_login(org, config_dir, form_browser, client_id="rotating-app-3")
    provider_rt = RefreshTokenProvider(
        login_url=org.login_url, client_id="rotating-app-3", refresh_token=str(grant.refresh_token)
    )
    org.faults.drop_connection(10, 1, path="/services/oauth2/token")
    from sfbulk_mcp.salesforce.errors import ConnectionLostError

    try:
        with pytest.raises(ConnectionLostError, match="lost the connection"):
            asyncio.run(provider_rt.refresh(grant.token))
    finally:
        org.faults.reset()


def test_work_on_an_org_whose_login_was_revoked_says_how_to_log_in_again(
    org: Any, config_dir: Path, form_browser: Any
) -> None:
    grant = _web_login(org, config_dir, form_browser)
    store = _store(config_dir)
    from sfbulk_mcp.auth.oauth import revoke_token

    _save_web(store, org, grant, "stale")
    asyncio.run(revoke_token(org.login_url, str(grant.refresh_token)))  # e.g. by an admin

    async def work() -> None:
        async with open_org("stale", store=store, env={}) as resolved:
            client = SalesforceClient(resolved)
            try:
                await client.query("SELECT Id FROM User")
            finally:
                await client.aclose()

    with pytest.raises(LoginRequiredError) as caught:
        asyncio.run(work())
    assert "run `sfbulk login --alias stale`" in str(caught.value)
