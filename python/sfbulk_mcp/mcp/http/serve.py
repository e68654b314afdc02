"""Streamable HTTP at `/mcp`, with the auth mode chosen by `OAUTH_MODE`."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..config import ServerConfig
from ..orgs import OrgAccess, PerUserOrgs, SingleOrg, make_client
from ..server import build_server
from .bearer import SalesforceTokenVerifier, bearer_provider
from .proxy import CALLBACK_PATH, ProxySettings, SalesforceOAuthProxy
from .storage import Storage, storage_from_env

log = logging.getLogger("sfbulk_mcp.mcp.http")

MCP_PATH = "/mcp"
DEFAULT_LOGIN_URL = "https://login.salesforce.com"


@dataclass(frozen=True)
class HttpSettings:
    """Everything HTTP mode reads from the environment."""

    mode: str
    base_url: str
    login_url: str
    client_id: str | None = None
    client_secret: str | None = None
    redis_url: str | None = None
    encryption_key: str | None = None

    @classmethod
    def from_env(
        cls, mode: str, *, host: str, port: int, env: Mapping[str, str] | None = None
    ) -> HttpSettings:
        env = os.environ if env is None else env
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        return cls(
            mode=mode,
            base_url=(env.get("BASE_URL") or f"http://{shown_host}:{port}").rstrip("/"),
            login_url=(env.get("SALESFORCE_LOGIN_URL") or DEFAULT_LOGIN_URL).rstrip("/"),
            client_id=env.get("SALESFORCE_CLIENT_ID") or None,
            client_secret=env.get("SALESFORCE_CLIENT_SECRET") or None,
            redis_url=env.get("REDIS_URL") or None,
            encryption_key=env.get("STORAGE_ENCRYPTION_KEY") or None,
        )


def build_http_app(
    config: ServerConfig,
    settings: HttpSettings,
    *,
    host: str = "127.0.0.1",
    single_org: OrgAccess | None = None,
    storage: Storage | None = None,
) -> Starlette:
    """The ASGI app: MCP at `/mcp`, plus the OAuth routes of the chosen mode."""
    resource_url = settings.base_url + MCP_PATH
    options: dict[str, Any] = {}
    orgs: OrgAccess
    proxy: SalesforceOAuthProxy | None = None
    closers: list[Any] = []
    if settings.mode == "bearer":
        verifier = SalesforceTokenVerifier(settings.login_url)
        per_user = PerUserOrgs(bearer_provider)
        closers.append(per_user.aclose)
        orgs = per_user
        options = {
            "token_verifier": verifier,
            "auth": AuthSettings(
                issuer_url=settings.login_url,  # type: ignore[arg-type]
                resource_server_url=resource_url,  # type: ignore[arg-type]
                validate_token_resource=False,
            ),
        }
    elif settings.mode == "proxy":
        if not settings.client_id:
            raise ValueError("OAUTH_MODE=proxy needs SALESFORCE_CLIENT_ID (a connected app)")
        store = storage or storage_from_env(settings.redis_url, settings.encryption_key)
        closers.append(store.aclose)
        proxy = SalesforceOAuthProxy(
            ProxySettings(
                base_url=settings.base_url,
                login_url=settings.login_url,
                client_id=settings.client_id,
                client_secret=settings.client_secret,
            ),
            store,
        )
        per_user = PerUserOrgs(proxy.provider_for)
        closers.append(per_user.aclose)
        orgs = per_user
        options = {
            "auth_server_provider": proxy,
            "auth": AuthSettings(
                issuer_url=settings.base_url,  # type: ignore[arg-type]
                resource_server_url=resource_url,  # type: ignore[arg-type]
                client_registration_options=ClientRegistrationOptions(enabled=True),
                revocation_options=RevocationOptions(enabled=True),
                # Our tokens are only ever issued for this one server.
                validate_token_resource=False,
            ),
        }
    elif settings.mode == "none":
        if single_org is None:
            raise ValueError("OAUTH_MODE=none serves one org: pass it")
        orgs = single_org
    else:
        raise ValueError(f"unknown OAUTH_MODE {settings.mode!r}: bearer, proxy or none")

    if settings.mode != "none":
        # Remote callers: no server file paths in or out.
        config = dataclasses.replace(config, local_files=False)
    server, _ = build_server(config, orgs, **options)
    if proxy is not None:
        server.custom_route(CALLBACK_PATH, methods=["GET"])(proxy.handle_callback)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", "mode": settings.mode})

    server.custom_route("/healthz", methods=["GET"])(healthz)

    app = server.streamable_http_app(streamable_http_path=MCP_PATH, host=host)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(starlette: Starlette) -> AsyncIterator[None]:
        async with inner(starlette):
            try:
                yield
            finally:
                for close in closers:
                    await close()

    app.router.lifespan_context = lifespan
    return app


async def serve_http(
    config: ServerConfig,
    *,
    host: str,
    port: int,
    mode: str,
    env: Mapping[str, str] | None = None,
) -> None:
    """Serve until interrupted."""
    import uvicorn

    settings = HttpSettings.from_env(mode, host=host, port=port, env=env)
    if mode == "none":
        from sfbulk_mcp.auth.resolve import open_org

        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("OAUTH_MODE=none shares one org with every caller: loopback only")
        async with open_org(config.org, env=env) as org:
            client = make_client(org)
            try:
                app = build_http_app(
                    config, settings, host=host,
                    single_org=SingleOrg(client, owner=f"{org.instance_url}|{org.username}"),
                )
                await uvicorn.Server(_uvicorn_config(app, host, port)).serve()
            finally:
                await client.aclose()
        return
    app = build_http_app(config, settings, host=host)
    await uvicorn.Server(_uvicorn_config(app, host, port)).serve()


def _uvicorn_config(app: Starlette, host: str, port: int) -> Any:
    import uvicorn

    # No access log: OAuth callback URLs carry one-time codes.
    return uvicorn.Config(app, host=host, port=port, access_log=False, log_level="warning")
