"""Run the server on stdio or streamable HTTP."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping

from .config import ServerConfig
from .orgs import SingleOrg, make_client
from .server import build_server

log = logging.getLogger("sfbulk_mcp.mcp")


def configure_logging(level: str | None = None) -> None:
    """Logs go to stderr only: in stdio mode stdout carries the protocol and nothing else."""
    name = (level or os.environ.get("LOG_LEVEL") or "WARNING").upper()
    logging.basicConfig(
        level=getattr(logging, name, logging.WARNING),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    # Request lines may carry OAuth codes or ids: keep HTTP client chatter out of the logs.
    for noisy in ("httpx2", "httpx", "httpcore", "httpcore2", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def serve_stdio(config: ServerConfig, env: Mapping[str, str] | None = None) -> None:
    """Serve one org (from `--org`, the org store or the environment) over stdin/stdout."""
    from sfbulk_mcp.auth.resolve import open_org

    async with open_org(config.org, env=env) as org:
        client = make_client(org)
        owner = f"{org.instance_url or ''}|{org.username or org.alias or ''}"
        try:
            server, _ = build_server(config, SingleOrg(client, owner=owner))
            await server.run_stdio_async()
        finally:
            await client.aclose()
