"""What to do about Salesforce's OAuth errors, which are terse (`authentication failure`).

The advice below comes from the situations users hit most: a consumer key that is not yet
active, the username-password flow switched off, a JWT audience that does not match a
sandbox, client credentials sent to login.salesforce.com instead of the My Domain.
"""

from __future__ import annotations

from typing import Any

from ..salesforce.errors import AuthError, SalesforceError

# (error code, words in the description or "" for any) -> advice
_ADVICE: tuple[tuple[str, str, str], ...] = (
    (
        "invalid_grant",
        "code verifier",
        (
            "the PKCE code verifier does not match the challenge of this login: start "
            "`sfbulk login` again (and do not reuse an old login URL)"
        ),
    ),
    (
        "invalid_grant",
        "authorization code",
        (
            "the authorization code is used up or too old (codes live 15 minutes and work once): "
            "start `sfbulk login` again"
        ),
    ),
    (
        "invalid_grant",
        "expired access/refresh token",
        (
            "the refresh token was revoked or expired (see the connected app's refresh token "
            "policy): log in again with `sfbulk login`"
        ),
    ),
    (
        "invalid_grant",
        "hasn't approved",
        (
            "the user has not approved the connected app: for the JWT flow set 'Admin approved "
            "users are pre-authorized' and assign the app to the user's profile or permission set"
        ),
    ),
    (
        "invalid_grant",
        "audience",
        (
            "the JWT `aud` must be https://login.salesforce.com for production and "
            "https://test.salesforce.com for sandboxes; pass the right --instance-url"
        ),
    ),
    (
        "invalid_grant",
        "invalid assertion",
        (
            "the JWT was not accepted: check that the certificate uploaded to the connected app "
            "matches --jwt-key-file, that the username exists in this org, and the machine clock"
        ),
    ),
    (
        "invalid_grant",
        "client credentials user",
        (
            "the connected app has no 'Run As' user for the client credentials flow: set one in "
            "its OAuth policies"
        ),
    ),
    (
        "invalid_grant",
        "authentication failure",
        (
            "check the username and password, append the security token (or set "
            "SALESFORCE_SECURITY_TOKEN) when logging in from outside the trusted IP ranges, "
            "and check that the org allows the username-password flow (Setup > OAuth and "
            "OpenID Connect Settings)"
        ),
    ),
    (
        "invalid_client_id",
        "",
        (
            "Salesforce does not know this consumer key: check --client-id / SALESFORCE_CLIENT_ID "
            "(a new connected app can take up to 10 minutes to become active) and that the login "
            "URL belongs to the org that owns the app"
        ),
    ),
    (
        "invalid_client",
        "",
        (
            "the consumer key and secret do not match: check --client-secret / "
            "SALESFORCE_CLIENT_SECRET"
        ),
    ),
    (
        "invalid_request",
        "not supported on this domain",
        (
            "this flow must use the org's My Domain URL (https://yourdomain.my.salesforce.com), "
            "not login.salesforce.com or test.salesforce.com"
        ),
    ),
    (
        "unsupported_grant_type",
        "",
        (
            "the org or the connected app does not allow this flow: enable it in the app's OAuth "
            "settings (client credentials, JWT) or in Setup > OAuth and OpenID Connect Settings "
            "(username-password)"
        ),
    ),
    (
        "invalid_app_access",
        "",
        (
            "the user is not allowed to use this connected app: assign the app to the user's "
            "profile or permission set"
        ),
    ),
    ("inactive_user", "", "the user is deactivated or frozen: ask an admin"),
    ("inactive_org", "", "the org is locked, closed or suspended"),
    (
        "redirect_uri_mismatch",
        "",
        (
            "the callback URL is not registered in the connected app: add "
            "http://127.0.0.1:PORT/OauthRedirect (or pass --redirect-uri with a registered one)"
        ),
    ),
)


class OAuthError(AuthError):
    """An `{"error","error_description"}` answer from an OAuth endpoint, with advice."""

    def __init__(self, message: str, *, hint: str, **kwargs: Any) -> None:
        self.hint = hint
        super().__init__(message, **kwargs)


def advice_for(error_code: str | None, description: str) -> str | None:
    """What the user can do about an OAuth error, when we know."""
    lowered = description.lower()
    for code, words, advice in _ADVICE:
        if error_code == code and (not words or words in lowered):
            return advice
    return None


def explain(error: SalesforceError) -> SalesforceError:
    """`error` with advice attached when it is a known OAuth error; unchanged otherwise."""
    if not isinstance(error, AuthError) or isinstance(error, OAuthError):
        return error
    advice = advice_for(error.error_code, error.message)
    if advice is None:
        return error
    return OAuthError(
        error.message,
        hint=advice,
        error_code=error.error_code,
        status=error.status,
        method=error.method,
        url=error.url,
        errors=error.errors,
    )
