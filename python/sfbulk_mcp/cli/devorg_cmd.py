"""`sfbulk devorg …`: run the local Salesforce-compatible org."""

from __future__ import annotations

from pathlib import Path

import click


def default_data_dir() -> Path:
    """Where the devorg keeps its data between runs (the user's data directory)."""
    import platformdirs

    return Path(platformdirs.user_data_dir("sfbulk-mcp", appauthor=False)) / "devorg"


@click.group()
def devorg() -> None:
    """A local Salesforce-compatible org (REST, Bulk API 2.0, OAuth) for tests and demos."""


@devorg.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8787, show_default=True, type=int,
              help="Port to listen on (0 picks a free one).")
@click.option("--data", "data_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Data directory (default: the user data directory).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0),
              help="Generate N sample accounts (with contacts, opportunities, cases) "
                   "when the org is empty.")
@click.option("--seed-random", default=0, show_default=True, type=int,
              help="Random seed of the sample data (same seed, same data).")
@click.option("--force-seed", is_flag=True,
              help="Add the --seed sample data even if the org already has data.")
@click.option("--token-ttl", default=7200.0, show_default=True, type=float,
              help="Lifetime of access tokens, in seconds.")
@click.option("--api-limit", default=1_000_000, show_default=True, type=int,
              help="Daily API request limit (REQUEST_LIMIT_EXCEEDED past it).")
@click.option("--tls", is_flag=True, help="Serve HTTPS with a self-signed certificate.")
@click.option("--job-events", is_flag=True,
              help="Publish Bulk API 2.0 query job events (BulkApi2JobEvent) on the Streaming "
                   "API, as an org with that beta turned on does (for `export --early-results`).")
def start(host: str, port: int, data_dir: Path | None, seed: int, seed_random: int,
          force_seed: bool, token_ttl: float, api_limit: int, tls: bool,
          job_events: bool) -> None:
    """Run the devorg in the foreground until Ctrl-C; data persists in --data."""
    import uvicorn

    from sfbulk_mcp.devorg import (
        DEFAULT_CLIENT_ID,
        DEFAULT_PASSWORD,
        DEFAULT_USERNAME,
        close_state,
        open_state,
    )
    from sfbulk_mcp.devorg.app import build_app
    from sfbulk_mcp.devorg.server import bind_socket, ensure_tls_certificate, uvicorn_config
    from sfbulk_mcp.devorg.state import DevOrgConfig

    data = (data_dir or default_data_dir()).expanduser().resolve()
    config = DevOrgConfig(host=host, port=port, data_dir=data, token_ttl_seconds=token_ttl,
                          daily_api_limit=api_limit,
                          # --force-seed seeds below, whatever the org holds.
                          seed_accounts=0 if force_seed else seed,
                          seed_random=seed_random, tls=tls, streaming_events=job_events)
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}. "
                                   "Use --port to pick another port.") from None
    bound_port = sock.getsockname()[1]
    scheme = "https" if tls else "http"
    shown_host = f"[{host}]" if ":" in host else host
    instance_url = f"{scheme}://{shown_host}:{bound_port}"
    seeding = seed > 0
    if seeding:
        click.echo(f"Opening {data} (seeding {seed:,} accounts if empty)…", err=True)
    state = open_state(config, instance_url)
    if force_seed and seed > 0:
        from sfbulk_mcp.devorg.seed import seed as seed_store

        seed_store(state.store, seed, seed=seed_random)
    tls_files = ensure_tls_certificate(data / "tls", host) if tls else None
    server = uvicorn.Server(uvicorn_config(build_app(state), tls=tls_files, log_level="info",
                                          own_logging=True))
    accounts = state.store.count("Account")
    lines = [
        "sfbulk devorg is running",
        f"  Instance URL : {instance_url}",
        (f"  Login URL    : {instance_url}   (OAuth: /services/oauth2/authorize, "
         "/services/oauth2/token)"),
        f"  API versions : {config.api_versions[0]} … {config.latest_api_version}",
        f"  Data         : {data}  ({accounts:,} accounts)",
        f"  User         : {DEFAULT_USERNAME}  password: {DEFAULT_PASSWORD}",
        (f"  Client id    : {DEFAULT_CLIENT_ID}  (public client, PKCE; redirect URIs "
         "http://localhost:*/… and http://127.0.0.1:*/…)"),
    ]
    if tls_files:
        lines.append(f"  Certificate  : {tls_files[0]}  (trust it as a CA bundle)")
    lines += [
        "",
        "Log in:",
        (f"  browser : {instance_url}/services/oauth2/authorize?response_type=code"
         f"&client_id={DEFAULT_CLIENT_ID}&redirect_uri=http://localhost:1717/OauthRedirect"),
        (f"  curl    : curl -d grant_type=password -d client_id={DEFAULT_CLIENT_ID} "
         f"-d username={DEFAULT_USERNAME} -d password={DEFAULT_PASSWORD} "
         f"{instance_url}/services/oauth2/token"),
        f"  sfbulk  : any command with --org devorg, or SALESFORCE_INSTANCE_URL={instance_url}",
        "",
        "Press Ctrl-C to stop.",
    ]
    click.echo("\n".join(lines))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        close_state(state)


@devorg.command()
@click.option("--url", default=None, metavar="URL",
              help="The devorg to wait for (default: SFBULK_DEVORG_URL, else "
                   "http://127.0.0.1:8787).")
@click.option("--timeout", default=120.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds to wait before giving up.")
def wait(url: str | None, timeout: float) -> None:
    """Wait until a devorg started in the background answers (for CI scripts).

    Exits 0 once its REST API answers, 1 when it has not after --timeout seconds.
    """
    import contextlib
    import os
    import time
    import urllib.error
    import urllib.request

    from sfbulk_mcp.auth.devorg_login import DEFAULT_DEVORG_URL

    base = (url or os.environ.get("SFBULK_DEVORG_URL") or DEFAULT_DEVORG_URL).rstrip("/")
    deadline = time.monotonic() + timeout
    while True:
        # Not listening yet (or still starting): try again until the deadline. The versions
        # list needs no session: it answers as soon as the org serves.
        with (
            contextlib.suppress(urllib.error.URLError, OSError, ValueError),
            urllib.request.urlopen(f"{base}/services/data/", timeout=5) as response,
        ):
            if response.status == 200:
                click.echo(f"devorg is up at {base}", err=True)
                return
        if time.monotonic() >= deadline:
            raise click.ClickException(f"no devorg answered at {base} within {timeout:g} s")
        time.sleep(0.25)
