"""Which Salesforce host to talk to for a login, and what the JWT audience is.

Users paste many kinds of URL: `login.salesforce.com`, `test.salesforce.com`, a My Domain
(`https://acme.my.salesforce.com`, `https://acme--uat.sandbox.my.salesforce.com`), the
Lightning address they see in the browser (`https://acme.lightning.force.com`), or the local
devorg (`http://127.0.0.1:8787`). This module turns any of them into one canonical login URL
and knows the facts that depend on its kind.
"""

from __future__ import annotations

import enum
from urllib.parse import urlsplit

from ..salesforce.hosts import is_loopback_host
from .errors import LoginUrlError

PRODUCTION_LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"

_GENERIC_HOSTS = {
    "login.salesforce.com": PRODUCTION_LOGIN_URL,
    "test.salesforce.com": SANDBOX_LOGIN_URL,
}
# Addresses of the same org that are not where OAuth lives, mapped to its My Domain suffix.
_ALIAS_SUFFIXES = (
    (".sandbox.lightning.force.com", ".sandbox.my.salesforce.com"),
    (".scratch.lightning.force.com", ".scratch.my.salesforce.com"),
    (".develop.lightning.force.com", ".develop.my.salesforce.com"),
    (".lightning.force.com", ".my.salesforce.com"),
    (".sandbox.my.salesforce-setup.com", ".sandbox.my.salesforce.com"),
    (".my.salesforce-setup.com", ".my.salesforce.com"),
)
_SALESFORCE_SUFFIXES = (".salesforce.com", ".force.com", ".salesforce.mil", ".sfcrmproducts.cn")


class LoginKind(enum.Enum):
    """What kind of login host a URL names."""

    PRODUCTION = "production"  # login.salesforce.com
    SANDBOX = "sandbox"  # test.salesforce.com
    MY_DOMAIN = "my_domain"  # a production My Domain (or any other Salesforce host)
    SANDBOX_MY_DOMAIN = "sandbox_my_domain"  # acme--uat.sandbox.my.salesforce.com, scratch orgs
    LOCAL = "local"  # a devorg or another Salesforce-compatible server on loopback


def normalize_login_url(url: str) -> str:
    """The canonical `scheme://host[:port]` form of a login or instance URL.

    Adds `https://` when the scheme is missing, drops paths and trailing slashes, and maps
    Lightning / Setup addresses of an org to its My Domain. Plain HTTP is only accepted on a
    loopback address, where the devorg lives.
    """
    text = url.strip()
    if not text:
        raise LoginUrlError("the login URL is empty")
    if "://" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in {"http", "https"} or not host:
        raise LoginUrlError(
            f"{url!r} is not a login URL: use https://login.salesforce.com, "
            "https://test.salesforce.com, your My Domain (https://yourdomain.my.salesforce.com) "
            "or a devorg URL such as http://127.0.0.1:8787"
        )
    for alias_suffix, my_domain_suffix in _ALIAS_SUFFIXES:
        if host.endswith(alias_suffix):
            host = host[: -len(alias_suffix)] + my_domain_suffix
            break
    if scheme == "http" and not is_loopback_host(host):
        raise LoginUrlError(
            f"{url!r} uses plain http: Salesforce only accepts https (http is allowed for a "
            "devorg on 127.0.0.1 or localhost)"
        )
    netloc = host if ":" not in host else f"[{host}]"
    if parts.port is not None and not _is_default_port(scheme, parts.port):
        netloc += f":{parts.port}"
    return f"{scheme}://{netloc}"


def _is_default_port(scheme: str, port: int) -> bool:
    return (scheme, port) in {("https", 443), ("http", 80)}


def login_kind(url: str) -> LoginKind:
    """Classify a login URL (normalised first)."""
    host = urlsplit(normalize_login_url(url)).hostname or ""
    if is_loopback_host(host):
        return LoginKind.LOCAL
    if host == "login.salesforce.com":
        return LoginKind.PRODUCTION
    if host == "test.salesforce.com":
        return LoginKind.SANDBOX
    if is_sandbox_host(host):
        return LoginKind.SANDBOX_MY_DOMAIN
    return LoginKind.MY_DOMAIN


def is_sandbox_host(host: str) -> bool:
    """True when a Salesforce host name belongs to a sandbox or a scratch org."""
    host = host.lower()
    if host == "test.salesforce.com":
        return True
    if host.endswith((".sandbox.my.salesforce.com", ".scratch.my.salesforce.com")):
        return True
    # Before enhanced domains, sandbox My Domains were `acme--uat.cs42.my.salesforce.com` or
    # `acme--uat.my.salesforce.com`: the `--` in the first label marks the sandbox.
    first_label = host.split(".", 1)[0]
    return "--" in first_label and host.endswith(".my.salesforce.com")


def is_salesforce_host(host: str) -> bool:
    """True for hosts run by Salesforce (as opposed to a devorg or a test server)."""
    host = host.lower()
    return host in _GENERIC_HOSTS or host.endswith(_SALESFORCE_SUFFIXES)


def is_my_domain(url: str) -> bool:
    """True when `url` is an org's own domain rather than a generic login host."""
    return login_kind(url) in {LoginKind.MY_DOMAIN, LoginKind.SANDBOX_MY_DOMAIN, LoginKind.LOCAL}


def jwt_audience(login_url: str) -> str:
    """The `aud` claim Salesforce expects in a JWT bearer assertion sent to `login_url`.

    Salesforce checks the audience against its generic login hosts, not the My Domain the
    assertion is posted to: production orgs use https://login.salesforce.com, sandboxes and
    scratch orgs https://test.salesforce.com. A non-Salesforce server (the devorg) is its own
    audience.
    """
    url = normalize_login_url(login_url)
    host = urlsplit(url).hostname or ""
    if not is_salesforce_host(host):
        return url
    return SANDBOX_LOGIN_URL if is_sandbox_host(host) else PRODUCTION_LOGIN_URL


def oauth_endpoint(login_url: str, name: str) -> str:
    """The URL of `/services/oauth2/<name>` (authorize, token, revoke, userinfo) at a host."""
    return f"{normalize_login_url(login_url)}/services/oauth2/{name}"


def require_my_domain(login_url: str, flow: str) -> str:
    """`login_url` normalised, or a clear error when `flow` needs a My Domain URL."""
    url = normalize_login_url(login_url)
    if login_kind(url) in {LoginKind.PRODUCTION, LoginKind.SANDBOX}:
        raise LoginUrlError(
            f"the {flow} flow must use your org's My Domain URL, not {url}: pass "
            "--instance-url https://yourdomain.my.salesforce.com (or "
            "https://yourdomain--sandbox.sandbox.my.salesforce.com for a sandbox)"
        )
    return url
