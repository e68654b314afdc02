"""Error bodies become typed errors that say what happened, where, and what to do."""

from __future__ import annotations

import pytest
from sfbulk_mcp.salesforce.errors import (
    AuthError,
    InvalidFieldError,
    MalformedQueryError,
    MultipleChoicesError,
    NotFoundError,
    RateLimitedError,
    RecordError,
    RequestLimitError,
    RowLockError,
    SalesforceError,
    ServerUnavailableError,
    SessionExpiredError,
    error_from_response,
    parse_error_body,
    redact_url,
)

URL = "https://example.my.salesforce.com/services/data/v62.0/query?q=SELECT+Nme+FROM+Account"


def test_rest_error_list_is_parsed_with_code_fields_status_and_request() -> None:
    body = b'[{"message":"No such column \'Nme\' on entity \'Account\'","errorCode":"INVALID_FIELD","fields":["Nme"]}]'
    error = error_from_response(400, body, method="GET", url=URL)
    assert isinstance(error, InvalidFieldError)
    assert error.error_code == "INVALID_FIELD" == error.errorCode
    assert error.fields == ("Nme",)
    assert error.status == 400
    assert error.method == "GET" and error.url == URL
    text = str(error)
    assert "INVALID_FIELD" in text and "Nme" in text and "HTTP 400" in text
    assert "describe" in text  # says what to do


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "MALFORMED_QUERY", MalformedQueryError),
        (404, "NOT_FOUND", NotFoundError),
        (400, "REQUIRED_FIELD_MISSING", RecordError),
        (400, "UNABLE_TO_LOCK_ROW", RowLockError),
        (401, "INVALID_SESSION_ID", SessionExpiredError),
        (429, "TOO_MANY_REQUESTS", RateLimitedError),
        (503, "SERVER_UNAVAILABLE", ServerUnavailableError),
    ],
)
def test_error_codes_map_to_meaningful_classes(
    status: int, code: str, cls: type[SalesforceError]
) -> None:
    error = error_from_response(status, f'[{{"message":"m","errorCode":"{code}"}}]')
    assert type(error) is cls
    assert isinstance(error, SalesforceError)


def test_oauth_error_body_becomes_auth_error() -> None:
    body = b'{"error":"invalid_grant","error_description":"expired access/refresh token"}'
    error = error_from_response(400, body, method="POST", url="https://login.salesforce.com/services/oauth2/token")
    assert isinstance(error, AuthError)
    assert error.error_code == "invalid_grant"
    assert "expired access/refresh token" in str(error)


def test_daily_request_limit_is_not_retryable_and_says_so() -> None:
    daily = error_from_response(
        403, b'[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]'
    )
    assert isinstance(daily, RequestLimitError)
    assert daily.daily and not daily.retryable
    assert "daily" in str(daily) and "will not help" in str(daily)
    concurrent = error_from_response(
        403,
        b'[{"message":"ConcurrentPerOrgLongTxn Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]',
    )
    assert isinstance(concurrent, RequestLimitError)
    assert not concurrent.daily and concurrent.retryable


def test_upsert_300_lists_the_matching_records() -> None:
    body = b'["/services/data/v62.0/sobjects/Account/001000000000001AAA","/services/data/v62.0/sobjects/Account/001000000000002AAA"]'
    error = error_from_response(300, body, method="PATCH", url="https://x/services/data/v62.0/sobjects/Account/Ext__c/7")
    assert isinstance(error, MultipleChoicesError)
    assert len(error.candidates) == 2
    assert "2 records" in str(error)


def test_non_json_error_body_keeps_its_text() -> None:
    error = error_from_response(502, b"<html>Bad Gateway</html>")
    assert isinstance(error, ServerUnavailableError)
    assert "Bad Gateway" in error.message and error.retryable


def test_several_errors_are_all_kept() -> None:
    body = b'[{"message":"a","errorCode":"X"},{"message":"b","errorCode":"Y"}]'
    details = parse_error_body(body)
    assert [d.error_code for d in details] == ["X", "Y"]
    assert "1 more" in str(error_from_response(400, body))


def test_secrets_in_query_strings_are_redacted_from_errors() -> None:
    url = "https://x/services/oauth2/token?grant_type=refresh_token&refresh_token=5Aep861secret&client_secret=abc"
    assert "5Aep861secret" not in redact_url(url)
    error = error_from_response(400, b'{"error":"invalid_grant"}', method="POST", url=url)
    assert "5Aep861secret" not in str(error) and "abc" not in (error.url or "").split("?")[1]


def test_internal_server_error_is_not_retryable_but_gateway_errors_are() -> None:
    from sfbulk_mcp.salesforce import ServerError

    unknown = error_from_response(500, b'[{"errorCode":"UNKNOWN_EXCEPTION","message":"boom"}]')
    assert isinstance(unknown, ServerError) and not unknown.retryable
    for status in (502, 503, 504):
        assert error_from_response(status, b"").retryable


def test_html_maintenance_page_becomes_a_short_readable_message() -> None:
    page = b"<html><head><title>Down</title></head><body><h1>Salesforce is down for maintenance</h1>" + b"<p>x</p>" * 5000 + b"</body></html>"
    error = error_from_response(503, page)
    assert error.message.startswith("Down Salesforce is down for maintenance")
    assert len(error.message) <= 500 and "<" not in error.message
