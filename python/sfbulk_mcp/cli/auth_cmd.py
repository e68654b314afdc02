"""`sfbulk login`, `sfbulk logout` and `sfbulk orgs`: manage the stored orgs.

Nothing these commands print ever contains a token, a password or a client secret.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import sys
import time
import webbrowser
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
import orjson

from ..auth.check import OrgCheck, check_org
from ..auth.env import default_client_id
from ..auth.errors import OrgStoreError
from ..auth.login import (
    LoginResult,
    login_client_credentials,
    login_jwt,
    login_password,
    login_web,
)
from ..auth.login import (
    logout as logout_org,
)
from ..auth.oauth import DEFAULT_SESSION_TIMEOUT
from ..auth.store import OrgRecord, OrgStore
from ..auth.urls import PRODUCTION_LOGIN_URL, normalize_login_url
from ..auth.webflow import DEFAULT_CALLBACK_PORT
from ..salesforce.errors import SalesforceError
from .output import EXIT_AUTH, EXIT_INTERRUPTED, EXIT_UNAVAILABLE, exit_code_for

T = TypeVar("T")

METHODS = ("web", "jwt", "client-credentials", "password")
_STORED_METHODS = {
    "web": "web",
    "refresh_token": "web",
    "jwt": "jwt",
    "client_credentials": "client-credentials",
    "password": "password",
}


@contextmanager
def _errors() -> Iterator[None]:
    """Clear one-line errors with the documented exit codes, never a traceback."""
    try:
        yield
    except (click.ClickException, click.exceptions.Exit):
        raise
    except KeyboardInterrupt:
        click.echo("error: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except (SalesforceError, OrgStoreError) as exc:
        # The same codes as the data commands: a corrupt or unreadable store means no usable
        # org (3), a rate limit or an outage is "unavailable" (7).
        click.echo(f"error: {exc}", err=True)
        sys.exit(exit_code_for(exc))


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await factory()

    return asyncio.run(main())


def _pick_method(
    method: str | None, jwt_key_file: str | None, username: str | None, client_secret: str | None
) -> str:
    if method:
        return method
    if jwt_key_file:
        return "jwt"
    if username:
        return "password"
    if client_secret:
        return "client-credentials"
    return "web"


def _read_password(password_stdin: bool) -> str:
    env_password = os.environ.get("SALESFORCE_PASSWORD")
    if password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if env_password:
        return env_password
    if sys.stdin.isatty():
        value: str = click.prompt("Password", hide_input=True)
        return value
    raise click.UsageError(
        "the password login needs a password: set SALESFORCE_PASSWORD or pass --password-stdin"
    )


@click.command("login")
@click.option(
    "--instance-url",
    "--login-url",
    "-r",
    "instance_url",
    metavar="URL",
    envvar="SALESFORCE_LOGIN_URL",
    default=PRODUCTION_LOGIN_URL,
    show_default=True,
    help="login.salesforce.com, test.salesforce.com, a My Domain "
    "(https://acme.my.salesforce.com, https://acme--uat.sandbox.my.salesforce.com) or a devorg "
    "(http://127.0.0.1:8787). Also SALESFORCE_LOGIN_URL.",
)
@click.option(
    "--alias",
    "-a",
    metavar="ALIAS",
    help="Name to store the org under (default: the username). For a stored alias, logs in again "
    "the same way unless told otherwise.",
)
@click.option(
    "--client-id",
    metavar="ID",
    help="Connected app consumer key (default: SALESFORCE_CLIENT_ID; sfbulk-devorg for a devorg).",
)
@click.option(
    "--client-secret",
    metavar="SECRET",
    help="Consumer secret (default: SALESFORCE_CLIENT_SECRET, also sent in the web flow when set). "
    "Given without --username or --jwt-key-file, it selects the client credentials flow.",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    help="Login flow (default: jwt with --jwt-key-file, password with --username, "
    "client-credentials with --client-secret, else web).",
)
@click.option(
    "--no-browser", is_flag=True, help="Print the login URL instead of opening a browser."
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=DEFAULT_CALLBACK_PORT,
    show_default=True,
    help="Loopback port of the callback http://127.0.0.1:PORT/OauthRedirect (0 = any free port).",
)
@click.option(
    "--redirect-uri", metavar="URI", help="Exact loopback callback URI registered in the app."
)
@click.option("--scope", metavar="SCOPES", help="OAuth scopes to ask for (default: the app's).")
@click.option(
    "--jwt-key-file",
    type=click.Path(dir_okay=False),
    help="RSA private key (PEM) for the JWT bearer flow.",
)
@click.option(
    "--username", "-u", metavar="USER", help="Username for the JWT bearer or password flow."
)
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from stdin (else SALESFORCE_PASSWORD or a prompt).",
)
@click.option(
    "--session-timeout",
    type=click.FloatRange(min=1),
    default=DEFAULT_SESSION_TIMEOUT,
    show_default=True,
    help="The org's session timeout in seconds; tokens are renewed shortly before it passes.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Seconds to wait for the browser login.",
)
@click.option(
    "--sf-org",
    metavar="ALIAS",
    help="Reuse the Salesforce CLI's login of ALIAS (or username) via `sf org display`.",
)
@click.option("--set-default", is_flag=True, help="Make this the default org.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored org as JSON.")
def login(
    instance_url: str,
    alias: str | None,
    client_id: str | None,
    client_secret: str | None,
    method: str | None,
    no_browser: bool,
    port: int,
    redirect_uri: str | None,
    scope: str | None,
    jwt_key_file: str | None,
    username: str | None,
    password_stdin: bool,
    session_timeout: float,
    timeout: float,
    sf_org: str | None,
    set_default: bool,
    as_json: bool,
) -> None:
    """Log in to an org and store it under an alias.

    \b
    Flows:
      sfbulk login --instance-url URL [--client-id ID]          browser login (PKCE)
      sfbulk login --jwt-key-file KEY --username U --client-id ID   JWT bearer
      sfbulk login --client-id ID --client-secret S --instance-url MYDOMAIN   client credentials
      sfbulk login --username U [--password-stdin]              username + password
      sfbulk login --sf-org ALIAS                               reuse a Salesforce CLI login
    """
    with _errors():
        env = os.environ
        if sf_org:
            _import_from_sf_cli(sf_org, alias, session_timeout, set_default, as_json)
            return
        store = OrgStore(env=env)
        ctx = click.get_current_context()
        stored = store.find(alias) if alias else None
        if stored is not None and ctx.get_parameter_source("instance_url") in (
            None,
            click.core.ParameterSource.DEFAULT,
        ):
            # `sfbulk login --alias X` logs in again the way X was logged in before.
            instance_url = stored.login_url
            client_id = client_id or stored.client_id
            if method is None and not (jwt_key_file or username or client_secret):
                method = _STORED_METHODS.get(stored.auth_method)
                jwt_key_file = stored.jwt_key_file
                username = stored.username if method in {"jwt", "password"} else None
                if method == "client-credentials":
                    client_secret = store.secrets(stored.alias).client_secret
        login_url = normalize_login_url(instance_url)
        client_id = client_id or default_client_id(login_url, env)
        # Only an explicit --client-secret selects client credentials; a secret from the
        # environment also serves confidential apps in the web flow.
        chosen = _pick_method(method, jwt_key_file, username, client_secret)
        client_secret = client_secret or env.get("SALESFORCE_CLIENT_SECRET") or None
        if not client_id:
            raise click.UsageError(
                "a connected app is needed to log in to Salesforce: pass --client-id (the "
                "consumer key of your connected app / external client app) or set "
                "SALESFORCE_CLIENT_ID; or reuse a Salesforce CLI login with --sf-org ALIAS"
            )
        common: dict[str, Any] = {
            "alias": alias,
            "session_timeout": session_timeout,
            "make_default": set_default,
        }
        result: LoginResult
        if chosen == "web":
            result = _run(
                lambda: login_web(
                    store,
                    login_url=login_url,
                    client_id=client_id,
                    client_secret=client_secret,
                    port=port,
                    redirect_uri=redirect_uri,
                    scope=scope,
                    show_url=lambda url: _show_login_url(url, open_browser=not no_browser),
                    timeout=timeout,
                    **common,
                )
            )
        elif chosen == "jwt":
            if not jwt_key_file or not username:
                raise click.UsageError("the JWT bearer flow needs --jwt-key-file and --username")
            key_file = jwt_key_file
            user = username
            result = _run(
                lambda: login_jwt(
                    store,
                    login_url=login_url,
                    client_id=client_id,
                    username=user,
                    key_file=key_file,
                    **common,
                )
            )
        elif chosen == "client-credentials":
            if not client_secret:
                raise click.UsageError(
                    "the client credentials flow needs --client-secret or SALESFORCE_CLIENT_SECRET"
                )
            secret = client_secret
            result = _run(
                lambda: login_client_credentials(
                    store,
                    login_url=login_url,
                    client_id=client_id,
                    client_secret=secret,
                    **common,
                )
            )
        else:
            user = username or env.get("SALESFORCE_USERNAME") or ""
            if not user:
                raise click.UsageError("the password flow needs --username or SALESFORCE_USERNAME")
            password = _read_password(password_stdin)
            result = _run(
                lambda: login_password(
                    store,
                    login_url=login_url,
                    client_id=client_id,
                    username=user,
                    password=password,
                    security_token=env.get("SALESFORCE_SECURITY_TOKEN", ""),
                    client_secret=client_secret,
                    **common,
                )
            )
        _report(result, as_json)


def _import_from_sf_cli(
    target: str, alias: str | None, session_timeout: float, set_default: bool, as_json: bool
) -> None:
    from ..auth.sfcli import import_sf_cli_org

    store = OrgStore(env=os.environ)
    result = _run(
        lambda: import_sf_cli_org(
            store, target, alias=alias, session_timeout=session_timeout, make_default=set_default
        )
    )
    if result.record.auth_method == "access_token" and not as_json:
        click.echo(
            "note: the Salesforce CLI shared only its current session (no refresh token); "
            "import again after `sf org login` when it expires.",
            err=True,
        )
    _report(result, as_json)


def _report(result: LoginResult, as_json: bool) -> None:
    record = result.record
    if as_json:
        click.echo(orjson.dumps(_org_json(record)).decode())
        return
    default_note = " (default org)" if record.is_default else ""
    click.echo(
        f"Logged in to {record.instance_url} as {record.username or 'unknown user'} "
        f"[{record.auth_method}]; stored as {record.alias!r}{default_note}."
    )


def _show_login_url(url: str, *, open_browser: bool) -> None:
    # Prompts go to stderr: stdout holds only the result (`--json` stays parseable).
    if open_browser and webbrowser.open(url):
        click.echo("Opened the login page in your browser. If it did not appear, open:", err=True)
    else:
        click.echo("Open this URL in a browser to log in:", err=True)
    click.echo(url, err=True)
    click.echo("Waiting for the login to complete...", err=True)


@click.command("logout")
@click.option(
    "--alias", "-a", metavar="ALIAS", help="Org to log out of (default: the default org)."
)
@click.option("--all", "all_orgs", is_flag=True, help="Log out of every stored org.")
@click.option(
    "--no-revoke", is_flag=True, help="Only forget the secrets; do not revoke at Salesforce."
)
def logout(alias: str | None, all_orgs: bool, no_revoke: bool) -> None:
    """Revoke an org's token at Salesforce and remove its stored secrets."""
    with _errors():
        if alias and all_orgs:
            raise click.UsageError("pass either --alias or --all, not both")
        store = OrgStore(env=os.environ)
        if all_orgs:
            aliases = [r.alias for r in store.list_orgs()]
            if not aliases:
                click.echo("No stored orgs.")
                return
        else:
            target = alias or store.default_alias()
            if target is None:
                raise click.UsageError(
                    "no default org: pass --alias ALIAS or --all (see `sfbulk orgs`)"
                )
            store.get(target)  # a clear error for an unknown alias before anything else
            aliases = [target]
        problems = 0
        for name in aliases:
            outcome = asyncio.run(logout_org(store, name, revoke=not no_revoke))
            if outcome.revoked:
                click.echo(f"Logged out of {name!r}: token revoked, secrets removed.")
            elif outcome.revoke_error:
                problems += 1
                click.echo(
                    f"Removed {name!r} locally, but Salesforce did not revoke its token: "
                    f"{outcome.revoke_error}",
                    err=True,
                )
            else:
                click.echo(f"Removed {name!r} (secrets deleted; nothing to revoke).")
        if problems:
            sys.exit(EXIT_UNAVAILABLE)


def _iso(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return (
        dt.datetime.fromtimestamp(timestamp, dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def _expiry_text(record: OrgRecord, now: float) -> str:
    if record.expires_at is None:
        return "unknown"
    left = record.expires_at - now
    renews = record.auth_method != "access_token"
    if left <= 0:
        return "expired (renews on use)" if renews else "expired"
    hours, rest = divmod(int(left), 3600)
    return f"in {hours}h {rest // 60:02d}m" if hours else f"in {rest // 60}m {rest % 60:02d}s"


def _org_json(record: OrgRecord, status: OrgCheck | None = None) -> dict[str, Any]:
    now = time.time()
    extra: dict[str, Any] = {}
    if status is not None:
        extra = {"connected": status.connected, "status": status.detail}
    return {
        "alias": record.alias,
        "username": record.username,
        "instance_url": record.instance_url,
        "login_url": record.login_url,
        "auth_method": record.auth_method,
        "client_id": record.client_id,
        "user_id": record.user_id,
        "org_id": record.org_id,
        "token_expires_at": _iso(record.expires_at),
        "token_expired": record.expires_at is not None and record.expires_at <= now,
        "default": record.is_default,
        "is_default": record.is_default,
        "secrets_in": record.secrets_backend,
        **extra,
    }


@click.command("orgs")
@click.option("--json", "as_json", is_flag=True, help="Print the orgs as a JSON list.")
@click.option("--set-default", metavar="ALIAS", help="Make ALIAS the default org first.")
@click.option(
    "--check", is_flag=True, help="Ask each org who we are (renewing sessions) and show status."
)
def orgs(as_json: bool, set_default: str | None, check: bool) -> None:
    """List stored orgs: alias, username, instance, auth method, token expiry, default."""
    with _errors():
        store = OrgStore(env=os.environ)
        if set_default:
            store.set_default(set_default)
        records = store.list_orgs()
        statuses: dict[str, OrgCheck] = {}
        if check and records:
            statuses = _run(lambda: _check_all(store, [r.alias for r in records]))
            records = store.list_orgs()  # sessions may have been renewed
        if as_json:
            rows = [_org_json(r, statuses.get(r.alias)) for r in records]
            click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
            return
        if not records:
            click.echo(
                "No stored orgs. Log in with `sfbulk login --instance-url URL`, or use "
                "`--org devorg` for a local org."
            )
            return
        _print_table(records, statuses)
        failed = [c for c in statuses.values() if not c.connected]
        for outcome in failed:
            click.echo(f"{outcome.alias}: {outcome.detail}", err=True)
        if failed:
            sys.exit(EXIT_AUTH)


async def _check_all(store: OrgStore, aliases: list[str]) -> dict[str, OrgCheck]:
    outcomes = await asyncio.gather(*(check_org(store, alias) for alias in aliases))
    return {outcome.alias: outcome for outcome in outcomes}


def _print_table(records: list[OrgRecord], statuses: dict[str, OrgCheck]) -> None:
    from rich.console import Console
    from rich.table import Table

    now = time.time()
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns = ["DEFAULT", "ALIAS", "USERNAME", "INSTANCE", "METHOD", "TOKEN EXPIRES"]
    if statuses:
        columns.append("STATUS")
    for column in columns:
        table.add_column(column, overflow="fold")
    for record in records:
        row = [
            "*" if record.is_default else "",
            record.alias,
            record.username or "",
            record.instance_url,
            record.auth_method,
            _expiry_text(record, now),
        ]
        if statuses:
            outcome = statuses.get(record.alias)
            row.append("connected" if outcome and outcome.connected else "error")
        table.add_row(*row)
    Console(soft_wrap=False, width=None if sys.stdout.isatty() else 200).print(table)
