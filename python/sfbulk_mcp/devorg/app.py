"""The devorg's ASGI application: every route, wrapped in the middleware stack."""

from __future__ import annotations

import logging
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import control
from .apexrest import ApexRestRegistry
from .composite import install_composite
from .errors import DevOrgError
from .middleware import ApiMiddleware, ConnectionDropMiddleware
from .oauth import oauth_routes
from .responses import devorg_error_body, error_response, json_response, not_found
from .rest import RestApi, RestRequest, versions_list
from .soap_login import soap_routes
from .state import OrgState
from .streaming import streaming_routes
from .tooling import install_tooling

log = logging.getLogger(__name__)


def _bulk_routes(state: OrgState) -> list[BaseRoute]:
    """Bulk API 2.0 routes, when that part of the devorg is installed."""
    try:
        from .bulk import bulk_routes
    except ImportError as exc:
        # Only a missing Bulk package is tolerated; a broken one must fail loudly.
        if exc.name == "sfbulk_mcp.devorg.bulk" or "'bulk_routes'" in str(exc):
            log.warning("devorg: Bulk API 2.0 is not available (%s)", exc)
            return []
        raise
    return list(bulk_routes(state))


def build_app(state: OrgState, apex: ApexRestRegistry | None = None) -> ASGIApp:
    """The whole devorg as one ASGI app (routes + faults, auth, limits, gzip)."""
    api = RestApi(state)
    install_composite(api)
    install_tooling(api)
    state.extras["rest"] = api
    apex = apex or ApexRestRegistry()
    state.extras["apexrest"] = apex

    async def rest_endpoint(request: Request) -> Response:
        method = request.method
        override = request.query_params.get("_HttpMethod", "").upper()
        if method == "POST" and override in ("PATCH", "DELETE", "GET", "HEAD"):
            # For HTTP stacks without PATCH: POST …?_HttpMethod=PATCH, as Salesforce allows.
            method = override
        rest_request = RestRequest(
            method=method,
            version=request.path_params["version"],
            path=request.path_params.get("rest", "").strip("/"),
            params=request.query_params,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.body(),
            session=request.state.session,
        )
        _check_content_type(request)
        result = await run_in_threadpool(api.dispatch, rest_request)
        pretty = request.headers.get("x-prettyprint", "") == "1"
        return json_response(result.body, result.status, result.headers or None, pretty=pretty)

    async def versions(request: Request) -> Response:
        return json_response(versions_list(state))

    async def home(request: Request) -> Response:
        base = state.instance_url
        return PlainTextResponse(
            "sfbulk devorg: a local Salesforce-compatible org\n\n"
            f"REST API      {base}/services/data/\n"
            f"OAuth         {base}/services/oauth2/authorize | /token | /revoke | /userinfo\n"
            f"OpenID        {base}/.well-known/openid-configuration\n"
            "Default user  admin@devorg.local (password: devorg)\n"
            "Client id     sfbulk-devorg (public, PKCE, loopback redirect URIs)\n")

    rest_methods = ["GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"]
    routes: list[BaseRoute] = [
        Route("/", home, methods=["GET", "HEAD"]),
        Route("/services/data", versions, methods=["GET", "HEAD"]),
        *_bulk_routes(state),
        Route("/services/data/v{version}", rest_endpoint, methods=rest_methods),
        Route("/services/data/v{version}/{rest:path}", rest_endpoint, methods=rest_methods),
        Route("/services/apexrest/{path:path}", apex.endpoint,
              methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        Route("/services/apexrest", apex.endpoint,
              methods=["GET", "POST", "PATCH", "PUT", "DELETE"]),
        *oauth_routes(state),
        *soap_routes(state),
        *streaming_routes(state),
        *control.control_routes(state),
    ]
    inner = Starlette(routes=routes, exception_handlers={
        DevOrgError: _devorg_error,
        HTTPException: _http_error,
        Exception: _unexpected_error,
    })
    app: ASGIApp = _KeepConnectionOnError(inner)
    if state.config.gzip_responses:
        app = _GzipExceptBulk(app)
    app = ApiMiddleware(app, state)
    return ConnectionDropMiddleware(app, state)


class _KeepConnectionOnError:
    """Starlette re-raises an unexpected error after answering 500; uvicorn would then drop the
    keep-alive connection. The 500 is already sent (and logged): keep the connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            if not started or scope["type"] != "http":
                raise


class _GzipExceptBulk:
    """Gzip JSON responses for clients that accept it; Bulk routes compress on their own
    (results are pre-compressed once), so they bypass this layer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # Any non-empty body: Salesforce compresses small answers too when asked to.
        self.gzip = GZipMiddleware(app, minimum_size=1, compresslevel=5)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "/jobs/" not in scope["path"]:
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)


_BODY_TYPES = ("application/json", "application/xml", "text/xml", "text/csv",
               "application/x-www-form-urlencoded", "multipart/form-data")


def _check_content_type(request: Request) -> None:
    if request.method not in ("POST", "PATCH", "PUT"):
        return
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type and content_type not in _BODY_TYPES:
        raise DevOrgError(
            "UNSUPPORTED_MEDIA_TYPE",
            f"Content-Type header specified in HTTP request is not supported: {content_type}",
            status=415)


async def _devorg_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DevOrgError)
    if exc.status == 401:
        return error_response(401, exc.error_code, exc.message,
                              headers={"WWW-Authenticate": "Token"})
    return json_response(devorg_error_body(exc.error_code, exc.message, exc.fields), exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return not_found()
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return error_response(
            405, "METHOD_NOT_ALLOWED",
            f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
            headers={"Allow": allowed} if allowed else None)
    return error_response(exc.status_code, "UNKNOWN_EXCEPTION", str(exc.detail))


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("devorg: unexpected error on %s %s", request.method, request.url.path)
    body: Any = [{"errorCode": "UNKNOWN_EXCEPTION",
                  "message": "An unexpected error occurred. Please include this ErrorId if you "
                             f"contact support: {type(exc).__name__}"}]
    return json_response(body, 500)
