"""`sfbulk mcp`: run the MCP server (also installed as `sfbulk-mcp`)."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import click

from sfbulk_mcp.mcp.config import (
    DEFAULT_MAX_RESULT_BYTES,
    TOOLSETS,
    ConfigError,
    ServerConfig,
    parse_objects,
    parse_toolsets,
)


@click.command("mcp")
@click.option(
    "--transport",
    type=click.Choice(["stdio", "http"]),
    default="stdio",
    show_default=True,
    help="stdio for desktop clients; http serves streamable HTTP on PORT at /mcp.",
)
@click.option("--org", "org", default=None, help="Org alias (`devorg` runs a local org).")
@click.option("--read-only", is_flag=True, help="Leave out every tool that can change data.")
@click.option(
    "--toolsets",
    default=None,
    help=f"Comma-separated toolsets: {', '.join(TOOLSETS)}, or 'all' "
    "(default: data,schema,bulk,org).",
)
@click.option("--allow-objects", default=None, help="Only these objects (comma-separated).")
@click.option("--deny-objects", default=None, help="Never these objects (comma-separated).")
@click.option(
    "--max-result-bytes",
    type=int,
    default=None,
    help=f"Budget of one tool result (default {DEFAULT_MAX_RESULT_BYTES}).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where result files and the schema memory are kept.",
)
@click.option("--host", default=None, help="HTTP bind address (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="HTTP port (default: PORT or 8000).")
@click.option(
    "--oauth-mode",
    type=click.Choice(["bearer", "proxy", "none"]),
    default=None,
    help="HTTP auth: bearer (callers send a Salesforce token), proxy (OAuth 2.1 server in "
    "front of Salesforce), none (one org for everyone; loopback only). Default: OAUTH_MODE.",
)
@click.option("--log-level", default=None, help="Log level (default: LOG_LEVEL or WARNING).")
def mcp(
    transport: str,
    org: str | None,
    read_only: bool,
    toolsets: str | None,
    allow_objects: str | None,
    deny_objects: str | None,
    max_result_bytes: int | None,
    data_dir: Path | None,
    host: str | None,
    port: int | None,
    oauth_mode: str | None,
    log_level: str | None,
) -> None:
    """Run the Salesforce MCP server."""
    from sfbulk_mcp.mcp.run import configure_logging

    configure_logging(log_level)
    try:
        config = ServerConfig.from_env(
            org=org,
            read_only=read_only or None,
            toolsets=parse_toolsets(toolsets) if toolsets else None,
            allow_objects=parse_objects(allow_objects) if allow_objects else None,
            deny_objects=parse_objects(deny_objects) if deny_objects else None,
            max_result_bytes=max_result_bytes,
            data_dir=data_dir,
        )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    from sfbulk_mcp.auth.errors import OrgStoreError
    from sfbulk_mcp.mcp.http.storage import StorageError
    from sfbulk_mcp.salesforce.errors import SalesforceError

    try:
        if transport == "stdio":
            from sfbulk_mcp.mcp.run import serve_stdio

            anyio.run(serve_stdio, config)
            return
        from sfbulk_mcp.mcp.http.serve import serve_http

        mode = (oauth_mode or os.environ.get("OAUTH_MODE") or "bearer").lower()
        anyio.run(
            lambda: serve_http(
                config,
                host=host or os.environ.get("HOST") or "127.0.0.1",
                port=port if port is not None else int(os.environ.get("PORT") or 8000),
                mode=mode,
            )
        )
    except (SalesforceError, OrgStoreError, StorageError, ValueError) as exc:
        # Printed on stderr (click does): stdout stays clean for a stdio client.
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        pass
