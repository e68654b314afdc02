"""Fault injection (control endpoint and Python API) and daily API limits."""

from __future__ import annotations

import socket
import time

import httpx2
import pytest
from sfbulk_mcp.devorg import DevOrg

BASE = "/services/data/v66.0"


def control(org: DevOrg, spec: dict[str, object]) -> dict[str, object]:
    response = httpx2.post(f"{org.instance_url}/_devorg/faults", json=spec, trust_env=False)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_expire_sessions_through_the_control_endpoint(fresh_devorg: DevOrg,
                                                      fresh_api: httpx2.Client) -> None:
    assert fresh_api.get(f"{BASE}/limits").status_code == 200
    control(fresh_devorg, {"expire_sessions": True})
    expired = fresh_api.get(f"{BASE}/limits")
    assert expired.status_code == 401
    assert expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    # Tokens issued afterwards work again.
    fresh = fresh_devorg.access_token()
    ok = fresh_api.get(f"{BASE}/limits", headers={"Authorization": f"Bearer {fresh}"})
    assert ok.status_code == 200


def test_next_requests_fail_with_the_chosen_status(devorg: DevOrg, api: httpx2.Client) -> None:
    devorg.faults.fail_requests(503, 2, path="/query")
    assert api.get(f"{BASE}/limits").status_code == 200  # other paths are untouched
    soql = {"q": "SELECT Id FROM Account LIMIT 1"}
    first, second = api.get(f"{BASE}/query", params=soql), api.get(f"{BASE}/query", params=soql)
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert api.get(f"{BASE}/query", params=soql).status_code == 200

    control(devorg, {"fail_requests": {"status": 429, "count": 1}})
    throttled = api.get(f"{BASE}/limits")
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers

    control(devorg, {"fail_requests": {"status": 403, "count": 1}})
    limited = api.get(f"{BASE}/limits")
    assert limited.status_code == 403
    assert limited.json() == [{"message": "TotalRequests Limit exceeded.",
                               "errorCode": "REQUEST_LIMIT_EXCEEDED"}]


def test_injected_faults_still_report_api_usage(devorg: DevOrg, api: httpx2.Client) -> None:
    for status in (503, 429, 403):
        devorg.faults.fail_requests(status, 1, path="/limits")
        failed = api.get(f"{BASE}/limits")
        assert failed.status_code == status
        assert failed.headers["Sforce-Limit-Info"].startswith("api-usage=")


def test_daily_limit_gives_request_limit_exceeded(fresh_devorg: DevOrg,
                                                  fresh_api: httpx2.Client) -> None:
    limit = fresh_devorg.limits.daily_api_limit
    fresh_devorg.limits.set_usage(limit - 1)
    last = fresh_api.get(f"{BASE}/limits")
    assert last.status_code == 200
    assert last.headers["Sforce-Limit-Info"] == f"api-usage={limit}/{limit}"
    assert last.json()["DailyApiRequests"]["Remaining"] == 0
    over = fresh_api.get(f"{BASE}/limits")
    assert over.status_code == 403
    assert over.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert over.headers["Sforce-Limit-Info"] == f"api-usage={limit}/{limit}"


def test_configured_limit_is_reported() -> None:
    with DevOrg(daily_api_limit=5) as org, httpx2.Client(
            base_url=org.instance_url, trust_env=False,
            headers={"Authorization": f"Bearer {org.access_token()}"}) as client:
        statuses = [client.get(f"{BASE}/limits").status_code for _ in range(6)]
        assert statuses == [200] * 5 + [403]


def _raw_get(org: DevOrg, path: str) -> tuple[dict[str, str], bytes]:
    """GET over a bare socket, reading until the server closes: (headers, body bytes)."""
    host, port = org.instance_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        request = (f"GET {path} HTTP/1.1\r\nHost: {host}\r\n"
                   f"Authorization: Bearer {org.access_token()}\r\n"
                   "Accept-Encoding: identity\r\nConnection: close\r\n\r\n")
        sock.sendall(request.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    headers[":status"] = lines[0].split()[1]
    return headers, body


def test_connection_dropped_after_k_bytes(devorg: DevOrg) -> None:
    path = f"{BASE}/sobjects/Account/describe"
    full_headers, full_body = _raw_get(devorg, path)
    assert int(full_headers["content-length"]) == len(full_body)

    control(devorg, {"drop_connection": {"after_bytes": 1000, "path": "/describe"}})
    headers, body = _raw_get(devorg, path)
    assert headers[":status"] == "200"
    assert int(headers["content-length"]) == len(full_body)
    assert len(body) == 1000 and body == full_body[:1000]

    with httpx2.Client(trust_env=False) as client:
        devorg.faults.drop_connection(10, path="/describe")
        with pytest.raises(httpx2.TransportError):
            client.get(devorg.instance_url + path,
                       headers={"Authorization": f"Bearer {devorg.access_token()}"})
    # The fault is used up: the next response is whole.
    assert len(_raw_get(devorg, path)[1]) == len(full_body)


def test_job_knobs_and_reset(devorg: DevOrg) -> None:
    state = control(devorg, {"job_delay": 0.5, "fail_jobs": {"count": 1, "message": "boom"},
                             "hang_jobs": 1, "rotate_refresh_tokens": True})
    assert state["job_delay"] == 0.5 and state["job_failures"] == 1 and state["job_hangs"] == 1
    faults = devorg.faults
    assert faults.take_job_failure() == "boom" and faults.take_job_failure() is None
    assert faults.take_job_hang() is True and faults.take_job_hang() is False
    reset = httpx2.delete(f"{devorg.instance_url}/_devorg/faults", trust_env=False).json()
    assert reset["job_delay"] == 0.0 and reset["rotate_refresh_tokens"] is False


def test_control_endpoint_rejects_bad_specs(devorg: DevOrg) -> None:
    bad = httpx2.post(f"{devorg.instance_url}/_devorg/faults",
                      json={"fail_requests": {"status": 418}}, trust_env=False)
    assert bad.status_code == 400


def test_expiry_fault_through_python_api(fresh_devorg: DevOrg, fresh_api: httpx2.Client) -> None:
    fresh_devorg.faults.expire_sessions()
    time.sleep(0.01)
    assert fresh_api.get(f"{BASE}/limits").status_code == 401
