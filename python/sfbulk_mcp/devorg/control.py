"""`/_devorg/*`: the control endpoint tests use to inject faults (loopback clients only)."""

from __future__ import annotations

import ipaddress
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .responses import error_response, json_response
from .state import OrgState


def _is_loopback(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


def apply_faults(state: OrgState, spec: dict[str, Any]) -> None:
    """Apply a fault specification (the control endpoint's JSON body).

    Keys, all optional: `reset`, `expire_sessions`, `fail_requests` ({status, count, path}),
    `drop_connection` ({after_bytes, count, path}), `job_delay` (seconds), `fail_jobs`
    ({count, message}), `hang_jobs` (count), `rotate_refresh_tokens` (bool),
    `api_usage` (requests already used today).
    """
    faults = state.faults
    if spec.get("reset"):
        faults.reset()
    if spec.get("expire_sessions"):
        faults.expire_sessions()
    requests = spec.get("fail_requests")
    if requests:
        for item in requests if isinstance(requests, list) else [requests]:
            faults.fail_requests(int(item.get("status", 503)), int(item.get("count", 1)),
                                 path=str(item.get("path", "")))
    drop = spec.get("drop_connection")
    if drop:
        faults.drop_connection(int(drop.get("after_bytes", 0)), int(drop.get("count", 1)),
                               path=str(drop.get("path", "")))
    if "job_delay" in spec:
        faults.job_delay = max(0.0, float(spec["job_delay"]))
    fail_jobs = spec.get("fail_jobs")
    if fail_jobs:
        if isinstance(fail_jobs, dict):
            faults.fail_next_jobs(int(fail_jobs.get("count", 1)),
                                  str(fail_jobs.get("message", "Injected failure")))
        else:
            faults.fail_next_jobs(int(fail_jobs))
    if spec.get("hang_jobs"):
        faults.hang_next_jobs(int(spec["hang_jobs"]))
    if "rotate_refresh_tokens" in spec:
        faults.rotate_refresh_tokens = bool(spec["rotate_refresh_tokens"])
    if "api_usage" in spec:
        state.limits.set_usage(int(spec["api_usage"]))


def control_routes(state: OrgState) -> list[BaseRoute]:
    """GET shows the fault switches; POST changes them; DELETE resets them."""

    async def faults_endpoint(request: Request) -> Response:
        if not _is_loopback(request):
            return error_response(403, "INSUFFICIENT_ACCESS",
                                  "The devorg control endpoint only answers loopback clients")
        if request.method == "POST":
            try:
                spec = orjson.loads(await request.body() or b"{}")
                if not isinstance(spec, dict):
                    raise TypeError("the body must be a JSON object")
                apply_faults(state, spec)
            except (ValueError, TypeError, AttributeError) as exc:
                return error_response(400, "INVALID_FAULT", str(exc))
        elif request.method == "DELETE":
            state.faults.reset()
        body = state.faults.to_json()
        body["api_usage"] = state.limits.api_requests
        return json_response(body)

    return [Route("/_devorg/faults", faults_endpoint, methods=["GET", "POST", "DELETE"])]
