"""`sfbulk login | logout | orgs` as a user runs them: flags, messages, exit codes, no secrets."""

from __future__ import annotations

import datetime as dt
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from sfbulk_mcp.auth.errors import LoginRequiredError
from sfbulk_mcp.cli.main import cli

devorg_module = pytest.importorskip("sfbulk_mcp.devorg")
DevOrg: Any = getattr(devorg_module, "DevOrg", None)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if DevOrg is None:  # pragma: no cover
        pytest.skip("the devorg is not available")
    with DevOrg(seed=0, data_dir=tmp_path_factory.mktemp("devorg-cli")) as running:
        yield running


def _env(config_dir: Path, **extra: str) -> dict[str, str]:
    return {"SFBULK_CONFIG_DIR": str(config_dir), "SFBULK_SECRETS": "file", **extra}


def _sfbulk(args: list[str], env: dict[str, str], stdin: str | None = None) -> Any:
    return CliRunner().invoke(cli, args, env=env, input=stdin)


def _cert(pem_key: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID

    key: Any = serialization.load_pem_private_key(pem_key, password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ci")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _stored_secrets(config_dir: Path) -> list[str]:
    data = orjson.loads((config_dir / "secrets.json").read_bytes())
    return [v for entry in data["orgs"].values() for v in entry.values()]


def test_login_with_jwt_key_file(
    org: Any, config_dir: Path, rsa_key_pem: bytes, tmp_path: Path
) -> None:
    org.add_connected_app("cli-jwt", certificate_pem=_cert(rsa_key_pem))
    key = tmp_path / "server.key"
    key.write_bytes(rsa_key_pem)
    result = _sfbulk(
        [
            "login",
            "--jwt-key-file",
            str(key),
            "--username",
            "admin@devorg.local",
            "--client-id",
            "cli-jwt",
            "--instance-url",
            org.instance_url,
            "--alias",
            "ci",
        ],
        _env(config_dir),
    )
    assert result.exit_code == 0, result.output
    assert "stored as 'ci'" in result.output and "[jwt]" in result.output
    listed = orjson.loads(_sfbulk(["orgs", "--json"], _env(config_dir)).output)
    assert listed[0]["alias"] == "ci" and listed[0]["auth_method"] == "jwt"
    assert listed[0]["username"] == "admin@devorg.local"
    assert listed[0]["token_expires_at"].endswith("Z")
    for secret in _stored_secrets(config_dir):
        assert secret not in result.output


def test_login_with_password_from_stdin_and_env(org: Any, config_dir: Path) -> None:
    env = _env(config_dir, SALESFORCE_PASSWORD="devorg")
    by_env = _sfbulk(
        [
            "login",
            "--instance-url",
            org.instance_url,
            "--username",
            "admin@devorg.local",
            "--alias",
            "pw-env",
        ],
        env,
    )
    assert by_env.exit_code == 0, by_env.output
    by_stdin = _sfbulk(
        [
            "login",
            "--instance-url",
            org.instance_url,
            "--username",
            "admin@devorg.local",
            "--alias",
            "pw-stdin",
            "--password-stdin",
            "--set-default",
        ],
        _env(config_dir),
        stdin="devorg\n",
    )
    assert by_stdin.exit_code == 0, by_stdin.output
    assert "(default org)" in by_stdin.output
    assert "devorg\n" not in by_stdin.output.replace("devorg.local", "")
    table = _sfbulk(["orgs"], _env(config_dir))
    lines = [line for line in table.output.splitlines() if "pw-" in line]
    assert len(lines) == 2
    assert any(line.lstrip().startswith("*") and "pw-stdin" in line for line in lines)
    assert all("password" in line and org.instance_url in line for line in lines)


def test_wrong_password_exits_with_the_auth_code(org: Any, config_dir: Path) -> None:
    result = _sfbulk(
        [
            "login",
            "--instance-url",
            org.instance_url,
            "--username",
            "admin@devorg.local",
            "--password-stdin",
        ],
        _env(config_dir),
        stdin="not-the-password-SECRET\n",
    )
    assert result.exit_code == 3
    assert "invalid_grant" in result.output
    assert "SECRET" not in result.output
    assert not (config_dir / "orgs.json").exists()


def test_client_credentials_login_and_generic_host_refusal(org: Any, config_dir: Path) -> None:
    org.add_connected_app("cli-m2m", secret="m2m-SECRET-value", run_as="admin@devorg.local")
    ok = _sfbulk(
        [
            "login",
            "--client-id",
            "cli-m2m",
            "--client-secret",
            "m2m-SECRET-value",
            "--instance-url",
            org.instance_url,
            "--alias",
            "m2m",
        ],
        _env(config_dir),
    )
    assert ok.exit_code == 0, ok.output
    assert "[client_credentials]" in ok.output
    assert "m2m-SECRET-value" not in ok.output
    refused = _sfbulk(
        [
            "login",
            "--client-id",
            "x",
            "--client-secret",
            "y",
            "--instance-url",
            "https://login.salesforce.com",
        ],
        _env(config_dir),
    )
    assert refused.exit_code == 3
    assert "My Domain" in refused.output


def test_salesforce_login_needs_a_client_id(config_dir: Path) -> None:
    result = _sfbulk(
        ["login", "--instance-url", "https://acme.my.salesforce.com", "--no-browser"],
        _env(config_dir),
    )
    assert result.exit_code == 2
    assert "--client-id" in result.output and "SALESFORCE_CLIENT_ID" in result.output


def test_orgs_with_no_store_and_logout_with_nothing(config_dir: Path) -> None:
    assert "No stored orgs" in _sfbulk(["orgs"], _env(config_dir)).output
    assert orjson.loads(_sfbulk(["orgs", "--json"], _env(config_dir)).output) == []
    result = _sfbulk(["logout"], _env(config_dir))
    assert result.exit_code == 2 and "--all" in result.output


def test_corrupt_or_exposed_store_is_a_clear_cli_error(config_dir: Path) -> None:
    config_dir.mkdir(parents=True)
    store = config_dir / "orgs.json"
    store.write_text("{ not json")
    store.chmod(0o600)
    result = _sfbulk(["orgs"], _env(config_dir))
    assert result.exit_code == 3  # "no usable org", as the data commands say it
    assert "corrupt" in result.output and "Traceback" not in result.output
    store.write_text('{"format": "sfbulk-orgs", "version": 1, "default": null, "orgs": {}}')
    store.chmod(0o644)
    result = _sfbulk(["orgs"], _env(config_dir))
    assert result.exit_code == 3
    assert f"chmod 600 {store}" in result.output
    assert stat.S_IMODE(store.stat().st_mode) == 0o644  # we do not silently "fix" it


def test_orgs_set_default_and_unknown_alias(org: Any, config_dir: Path) -> None:
    env = _env(config_dir, SALESFORCE_PASSWORD="devorg")
    for alias in ("one", "two"):
        assert (
            _sfbulk(
                [
                    "login",
                    "--instance-url",
                    org.instance_url,
                    "--username",
                    "admin@devorg.local",
                    "--alias",
                    alias,
                ],
                env,
            ).exit_code
            == 0
        )
    listed = orjson.loads(_sfbulk(["orgs", "--json", "--set-default", "two"], env).output)
    assert [o["alias"] for o in listed if o["is_default"]] == ["two"]
    missing = _sfbulk(["logout", "--alias", "three"], env)
    assert missing.exit_code == 3  # unknown alias, as documented
    assert "known aliases: one, two" in missing.output


def test_parse_sfdx_auth_url_forms() -> None:
    from sfbulk_mcp.auth.sfcli import parse_sfdx_auth_url

    full = parse_sfdx_auth_url("force://PlatformCLI::5Aep861-REFRESH@acme.my.salesforce.com")
    assert (full.client_id, full.client_secret, full.instance_url) == (
        "PlatformCLI",
        None,
        "https://acme.my.salesforce.com",
    )
    assert full.refresh_token == "5Aep861-REFRESH"
    assert "REFRESH" not in repr(full)
    secret = parse_sfdx_auth_url(
        "force://app:shh:5Aep-R@https://acme--uat.sandbox.my.salesforce.com"
    )
    assert (secret.client_secret, secret.instance_url) == (
        "shh",
        "https://acme--uat.sandbox.my.salesforce.com",
    )


def test_login_reuses_a_salesforce_cli_login(
    org: Any, config_dir: Path, tmp_path: Path, form_browser: Any
) -> None:
    import asyncio
    import os
    import sys

    from sfbulk_mcp.auth.resolve import open_org
    from sfbulk_mcp.auth.store import OrgStore
    from sfbulk_mcp.auth.webflow import WebServerFlow

    async def web_login() -> Any:
        async with WebServerFlow(
            login_url=org.login_url, client_id="sfbulk-devorg", port=0
        ) as flow:
            await asyncio.to_thread(form_browser.log_in, flow.authorize_url)
            return await flow.complete(timeout=10)

    grant = asyncio.run(web_login())
    display = {
        "status": 0,
        "result": {
            "accessToken": grant.token.access_token,
            "instanceUrl": org.instance_url,
            "username": "admin@devorg.local",
            "alias": "sf-dev",
            "clientId": "sfbulk-devorg",
            "sfdxAuthUrl": f"force://sfbulk-devorg::{grant.refresh_token}@{org.instance_url}",
        },
    }
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_sf = bin_dir / "sf"
    fake_sf.write_text(
        f"#!{sys.executable}\nimport sys\n"
        "expected = ['org', 'display', '--target-org', 'sf-dev', '--verbose', '--json']\n"
        "assert sys.argv[1:] == expected\n"
        f"print({orjson.dumps(display).decode()!r})\n"
    )
    fake_sf.chmod(0o755)
    env = _env(config_dir, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    result = _sfbulk(["login", "--sf-org", "sf-dev"], env)
    assert result.exit_code == 0, result.output
    assert "stored as 'sf-dev'" in result.output
    assert grant.token.access_token not in result.output
    store = OrgStore(config_dir, env={"SFBULK_SECRETS": "file"})
    assert store.get("sf-dev").auth_method == "web"

    async def renew() -> str:
        async with open_org("sf-dev", store=store, env={}) as resolved:
            token = await resolved.refresh(await resolved.token())
            return token.access_token

    assert asyncio.run(renew()) != grant.token.access_token

    missing = _sfbulk(["login", "--sf-org", "x"], _env(config_dir, PATH=str(tmp_path / "empty")))
    assert missing.exit_code == 3
    assert "Salesforce CLI" in missing.output


def test_login_opens_the_browser_and_completes_when_it_comes_back(
    org: Any, config_dir: Path, form_browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    opened: list[str] = []

    def browser(url: str, *args: Any, **kwargs: Any) -> bool:
        opened.append(url)
        form_browser.log_in(url)  # the user logs in while the browser "is open"
        return True

    monkeypatch.setattr(webbrowser, "open", browser)
    result = _sfbulk(
        [
            "login",
            "--instance-url",
            org.instance_url,
            "--port",
            "0",
            "--alias",
            "browser",
            "--timeout",
            "20",
        ],
        _env(config_dir),
    )
    assert result.exit_code == 0, result.output
    assert len(opened) == 1 and "/services/oauth2/authorize?" in opened[0]
    assert "Opened the login page in your browser" in result.output
    assert "stored as 'browser'" in result.output


def test_login_again_with_just_the_alias_reuses_how_it_was_logged_in(
    org: Any, config_dir: Path, form_browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import webbrowser

    from sfbulk_mcp.auth.store import OrgStore

    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: bool(form_browser.log_in(url)))
    first = _sfbulk(
        ["login", "--instance-url", org.instance_url, "--port", "0", "--alias", "again"],
        _env(config_dir),
    )
    assert first.exit_code == 0, first.output
    store = OrgStore(config_dir, env={"SFBULK_SECRETS": "file"})
    before = store.secrets("again").refresh_token
    # What the "run `sfbulk login --alias again`" advice asks for, nothing more:
    again = _sfbulk(["login", "--alias", "again", "--port", "0"], _env(config_dir))
    assert again.exit_code == 0, again.output
    assert org.instance_url in again.output and "[web]" in again.output
    assert store.secrets("again").refresh_token not in (None, before)

    env = _env(config_dir, SALESFORCE_PASSWORD="devorg")
    assert (
        _sfbulk(
            [
                "login",
                "--instance-url",
                org.instance_url,
                "--username",
                "admin@devorg.local",
                "--alias",
                "pw-again",
            ],
            env,
        ).exit_code
        == 0
    )
    relogin = _sfbulk(["login", "--alias", "pw-again"], env)
    assert relogin.exit_code == 0, relogin.output
    assert "[password]" in relogin.output


def test_orgs_check_renews_what_it_can_and_flags_what_needs_a_login(
    org: Any, config_dir: Path, form_browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import webbrowser

    from sfbulk_mcp.auth.oauth import revoke_token
    from sfbulk_mcp.auth.store import OrgStore

    env = _env(config_dir, SALESFORCE_PASSWORD="devorg")
    assert (
        _sfbulk(
            [
                "login",
                "--instance-url",
                org.instance_url,
                "--username",
                "admin@devorg.local",
                "--alias",
                "healthy",
            ],
            env,
        ).exit_code
        == 0
    )
    monkeypatch.setattr(webbrowser, "open", lambda url, *a, **k: bool(form_browser.log_in(url)))
    assert (
        _sfbulk(
            ["login", "--instance-url", org.instance_url, "--port", "0", "--alias", "broken"], env
        ).exit_code
        == 0
    )
    store = OrgStore(config_dir, env={"SFBULK_SECRETS": "file"})
    asyncio.run(revoke_token(org.login_url, str(store.secrets("broken").refresh_token)))
    org.faults.expire_sessions()

    result = _sfbulk(["orgs", "--check", "--json"], env)
    rows = {row["alias"]: row for row in orjson.loads(result.stdout)}
    assert rows["healthy"]["connected"] is True
    assert rows["healthy"]["status"] == "connected as admin@devorg.local"
    assert rows["broken"]["connected"] is False
    assert "sfbulk login --alias broken" in rows["broken"]["status"]

    table = _sfbulk(["orgs", "--check"], env)
    assert table.exit_code == 3
    assert "broken: " in table.stderr and "sfbulk login --alias broken" in table.stderr


def test_env_can_borrow_the_salesforce_cli_session(
    org: Any, config_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio
    import os
    import sys

    from sfbulk_mcp.auth.resolve import open_org
    from sfbulk_mcp.auth.store import OrgStore

    display = {
        "status": 0,
        "result": {
            "accessToken": org.access_token(),
            "instanceUrl": org.instance_url,
            "username": "admin@devorg.local",
        },
    }
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.txt"
    fake_sf = bin_dir / "sf"
    fake_sf.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"open({str(calls)!r}, 'a').write(' '.join(sys.argv[1:]) + '\\n')\n"
        f"print({orjson.dumps(display).decode()!r})\n"
    )
    fake_sf.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    env = {"SALESFORCE_CONNECTION_TYPE": "Salesforce_CLI", "SALESFORCE_CLI_TARGET_ORG": "prod"}

    async def scenario() -> tuple[str, str | None]:
        async with open_org(None, store=OrgStore(config_dir, env={}), env=env) as resolved:
            token = await resolved.token()
            # The CLI hands back the same session after it was rejected: a clear dead end.
            with pytest.raises(LoginRequiredError, match="sf org login"):
                await resolved.refresh(token)
            return resolved.auth_method, token.username

    assert asyncio.run(scenario()) == ("sf_cli", "admin@devorg.local")
    assert calls.read_text().splitlines()[0].split() == [
        "org",
        "display",
        "--target-org",
        "prod",
        "--verbose",
        "--json",
    ]
