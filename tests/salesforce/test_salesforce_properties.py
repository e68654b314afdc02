"""Properties: parsers never crash on odd input, secrets never survive redaction."""

from __future__ import annotations

from urllib.parse import urlencode

from hypothesis import assume, given
from hypothesis import strategies as st
from sfbulk_mcp.salesforce.errors import SalesforceError, error_from_response, redact_url
from sfbulk_mcp.salesforce.limits import parse_limit_info
from sfbulk_mcp.salesforce.retry import RetryPolicy

secrets = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789!.", min_size=16, max_size=60)


@given(
    secret=secrets,
    name=st.sampled_from(["access_token", "refresh_token", "client_secret", "password", "code"]),
    before=st.dictionaries(st.sampled_from(["q", "fields", "limit"]), st.text(max_size=20), max_size=3),
)
def test_redaction_removes_every_secret_parameter(secret: str, name: str, before: dict[str, str]) -> None:
    assume(all(secret not in value for value in before.values()))
    url = "https://x.my.salesforce.com/services/data/v62.0/query?" + urlencode({**before, name: secret})
    assert secret not in redact_url(url)


@given(status=st.integers(min_value=300, max_value=599), body=st.binary(max_size=300))
def test_any_error_body_gives_a_salesforce_error(status: int, body: bytes) -> None:
    error = error_from_response(status, body, method="GET", url="https://x/y")
    assert isinstance(error, SalesforceError)
    assert error.status == status
    assert str(error)


@given(used=st.integers(0, 10**7), limit=st.integers(1, 10**7))
def test_limit_info_round_trips(used: int, limit: int) -> None:
    usage = parse_limit_info(f"api-usage={used}/{limit}; per-app-api-usage=1/2(appName=x)")
    assert (usage["api-usage"].used, usage["api-usage"].max) == (used, limit)


@given(attempt=st.integers(0, 40), jitter=st.floats(0, 1), retry_after=st.none() | st.floats(0, 100))
def test_backoff_stays_within_bounds(attempt: int, jitter: float, retry_after: float | None) -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=30.0, random=lambda: jitter)
    delay = policy.delay(attempt, retry_after)
    assert 0.25 <= delay <= max(30.0, retry_after or 0.0)
    if retry_after is not None:
        assert delay >= retry_after
