"""Token providers from environment variables, the way common Salesforce tools name them.

Order when several methods are configured: an access token, client credentials, JWT bearer,
username + password. `SALESFORCE_AUTH_METHOD` picks one explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..salesforce.credentials import StaticTokenProvider, TokenProvider
from .errors import NoCredentialsError
from .oauth import DEFAULT_SESSION_TIMEOUT
from .providers import (
    ClientCredentialsProvider,
    JwtBearerProvider,
    PasswordProvider,
)
from .urls import PRODUCTION_LOGIN_URL, LoginKind, login_kind, normalize_login_url

DEVORG_CLIENT_ID = "sfbulk-devorg"
METHODS = ("access_token", "client_credentials", "jwt", "password", "sf_cli")
_METHOD_ALIASES = {
    "token": "access_token",
    "access_token": "access_token",
    "client_credentials": "client_credentials",
    "oauth_2.0_client_credentials": "client_credentials",
    "jwt": "jwt",
    "jwt_bearer": "jwt",
    "password": "password",
    "user_password": "password",
    "username_password": "password",
    "sf_cli": "sf_cli",
    "salesforce_cli": "sf_cli",
}

ENV_HELP = (
    "set SALESFORCE_ACCESS_TOKEN + SALESFORCE_INSTANCE_URL; or SALESFORCE_CLIENT_ID + "
    "SALESFORCE_CLIENT_SECRET + SALESFORCE_INSTANCE_URL (My Domain) for client credentials; or "
    "SALESFORCE_CLIENT_ID + SALESFORCE_USERNAME + SALESFORCE_JWT_KEY_FILE for JWT bearer; or "
    "SALESFORCE_USERNAME + SALESFORCE_PASSWORD (+ SALESFORCE_SECURITY_TOKEN, "
    "SALESFORCE_CLIENT_ID, SALESFORCE_CLIENT_SECRET, SALESFORCE_LOGIN_URL); or "
    "SALESFORCE_AUTH_METHOD=sf_cli to use the Salesforce CLI's login (SALESFORCE_CLI_TARGET_ORG)"
)


@dataclass(frozen=True)
class EnvLogin:
    """A provider built from the environment, and what it is."""

    provider: TokenProvider
    method: str
    instance_url: str | None
    username: str | None


def session_timeout_from(env: Mapping[str, str]) -> float:
    """`SFBULK_SESSION_TIMEOUT` (seconds) or Salesforce's default of two hours."""
    raw = env.get("SFBULK_SESSION_TIMEOUT")
    if not raw:
        return DEFAULT_SESSION_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        raise NoCredentialsError(
            f"SFBULK_SESSION_TIMEOUT must be a number of seconds, not {raw!r}"
        ) from None
    if value <= 0:
        raise NoCredentialsError("SFBULK_SESSION_TIMEOUT must be positive")
    return value


def default_client_id(login_url: str, env: Mapping[str, str]) -> str | None:
    """`SALESFORCE_CLIENT_ID`, or the devorg's public app for a loopback login URL."""
    client_id = env.get("SALESFORCE_CLIENT_ID")
    if client_id:
        return client_id
    if login_kind(login_url) is LoginKind.LOCAL:
        return DEVORG_CLIENT_ID
    return None


def chosen_method(env: Mapping[str, str]) -> str | None:
    """The env-var login method in effect, None when none is configured."""
    # SALESFORCE_CONNECTION_TYPE is how another common Salesforce MCP server names it.
    explicit = (
        (env.get("SALESFORCE_AUTH_METHOD") or env.get("SALESFORCE_CONNECTION_TYPE") or "")
        .strip()
        .lower()
    )
    if explicit:
        method = _METHOD_ALIASES.get(explicit)
        if method is None:
            raise NoCredentialsError(
                f"SALESFORCE_AUTH_METHOD={explicit!r} is not one of {', '.join(METHODS)}"
            )
        return method
    has = {
        name: bool(env.get(name))
        for name in (
            "SALESFORCE_ACCESS_TOKEN",
            "SALESFORCE_CLIENT_ID",
            "SALESFORCE_CLIENT_SECRET",
            "SALESFORCE_USERNAME",
            "SALESFORCE_PASSWORD",
        )
    }
    has_key = bool(_jwt_key_file(env) or env.get("SALESFORCE_JWT_KEY"))
    if has["SALESFORCE_ACCESS_TOKEN"]:
        return "access_token"
    user_login = has["SALESFORCE_USERNAME"] and (has["SALESFORCE_PASSWORD"] or has_key)
    if has["SALESFORCE_CLIENT_ID"] and has["SALESFORCE_CLIENT_SECRET"] and not user_login:
        return "client_credentials"
    if has_key and has["SALESFORCE_USERNAME"]:
        return "jwt"
    if has["SALESFORCE_USERNAME"] and has["SALESFORCE_PASSWORD"]:
        return "password"
    return None


def _jwt_key_file(env: Mapping[str, str]) -> str | None:
    return env.get("SALESFORCE_JWT_KEY_FILE") or env.get("SALESFORCE_PRIVATE_KEY_FILE") or None


def _login_url(env: Mapping[str, str]) -> str:
    # Several Salesforce MCP servers take the org's URL in SALESFORCE_INSTANCE_URL only.
    return normalize_login_url(
        env.get("SALESFORCE_LOGIN_URL")
        or env.get("SALESFORCE_INSTANCE_URL")
        or PRODUCTION_LOGIN_URL
    )


def _require(env: Mapping[str, str], method: str, *names: str) -> None:
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise NoCredentialsError(f"the {method} login needs {', '.join(missing)} to be set")


def provider_from_env(env: Mapping[str, str]) -> EnvLogin | None:
    """A provider for the method the environment configures, None when it configures none."""
    method = chosen_method(env)
    if method is None:
        return None
    timeout = session_timeout_from(env)
    if method == "sf_cli":
        from .sfcli import SfCliProvider

        target = env.get("SALESFORCE_CLI_TARGET_ORG") or None
        return EnvLogin(SfCliProvider(target), method, None, None)
    if method == "access_token":
        _require(env, "access token", "SALESFORCE_ACCESS_TOKEN", "SALESFORCE_INSTANCE_URL")
        instance = normalize_login_url(env["SALESFORCE_INSTANCE_URL"])
        return EnvLogin(
            StaticTokenProvider(env["SALESFORCE_ACCESS_TOKEN"], instance), method, instance, None
        )
    if method == "client_credentials":
        _require(env, "client credentials", "SALESFORCE_CLIENT_ID", "SALESFORCE_CLIENT_SECRET")
        url = env.get("SALESFORCE_INSTANCE_URL") or env.get("SALESFORCE_LOGIN_URL")
        if not url:
            raise NoCredentialsError(
                "the client credentials login needs SALESFORCE_INSTANCE_URL set to your My "
                "Domain URL (https://yourdomain.my.salesforce.com)"
            )
        cc = ClientCredentialsProvider(
            login_url=url,
            client_id=env["SALESFORCE_CLIENT_ID"],
            client_secret=env["SALESFORCE_CLIENT_SECRET"],
            session_timeout=timeout,
        )
        return EnvLogin(cc, method, normalize_login_url(url), None)
    login_url = _login_url(env)
    client_id = default_client_id(login_url, env)
    if method == "jwt":
        _require(env, "JWT bearer", "SALESFORCE_USERNAME")
        if not client_id:
            _require(env, "JWT bearer", "SALESFORCE_CLIENT_ID")
        assert client_id is not None
        inline = env.get("SALESFORCE_JWT_KEY")
        jwt_provider = JwtBearerProvider(
            login_url=login_url,
            client_id=client_id,
            username=env["SALESFORCE_USERNAME"],
            private_key=inline.encode() if inline else None,
            key_file=_jwt_key_file(env),
            session_timeout=timeout,
        )
        return EnvLogin(jwt_provider, method, None, env["SALESFORCE_USERNAME"])
    _require(env, "username + password", "SALESFORCE_USERNAME", "SALESFORCE_PASSWORD")
    if not client_id:
        _require(env, "username + password", "SALESFORCE_CLIENT_ID")
    assert client_id is not None
    password = PasswordProvider(
        login_url=login_url,
        client_id=client_id,
        client_secret=env.get("SALESFORCE_CLIENT_SECRET") or None,
        username=env["SALESFORCE_USERNAME"],
        password=env["SALESFORCE_PASSWORD"],
        security_token=env.get("SALESFORCE_SECURITY_TOKEN", ""),
        session_timeout=timeout,
    )
    return EnvLogin(password, method, None, env["SALESFORCE_USERNAME"])
