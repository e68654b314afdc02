"""OAuth 2.0 endpoints of the devorg, as a Salesforce login server answers them.

`/services/oauth2/authorize` (code flow with PKCE), `/token` (authorization_code,
refresh_token, password, client_credentials, JWT bearer), `/revoke`, `/userinfo`, the identity
URL `/id/{org}/{user}` and `/.well-known/openid-configuration`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .login_page import error_page, login_page
from .middleware import bearer_token
from .responses import json_response
from .sessions import ConnectedApp, Session
from .state import OrgState

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SALESFORCE_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
# Salesforce accepts JWT assertions that expire within a few minutes.
JWT_MAX_LIFETIME_SECONDS = 300 + 60


class OAuthError(Exception):
    """`{"error", "error_description"}` with its HTTP status."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status

    def response(self) -> Response:
        return json_response({"error": self.error, "error_description": self.description},
                             self.status, {"Cache-Control": "no-cache,must-revalidate,"
                                                            "max-age=0,no-store,private"})


def redirect_uri_allowed(app: ConnectedApp, uri: str) -> bool:
    """True when `uri` matches one of the app's callback URLs (`*` for any port / path)."""
    try:
        candidate = urlsplit(uri)
        port = candidate.port
    except ValueError:
        return False
    for pattern in app.redirect_uris:
        if pattern == uri:
            return True
        scheme, rest = pattern.split("://", 1) if "://" in pattern else ("", pattern)
        hostport, _, path = rest.partition("/")
        host, _, pattern_port = hostport.partition(":")
        if scheme != candidate.scheme or host.lower() != (candidate.hostname or ""):
            continue
        if pattern_port not in ("*", str(port or "")):
            continue
        path = "/" + path
        if path.endswith("*"):
            if candidate.path.startswith(path[:-1]):
                return True
        elif candidate.path == path:
            return True
    return False


def pkce_matches(verifier: str, challenge: str, method: str) -> bool:
    """RFC 7636 check of a code verifier against the stored challenge."""
    if method == "plain":
        computed = verifier
    else:
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)


class OAuthServer:
    """The login server of one org."""

    def __init__(self, state: OrgState) -> None:
        self.state = state
        self.auth = state.auth

    # -- token responses --------------------------------------------------------------------
    def _signing_key(self) -> Any:
        """The org's RS256 key for id tokens (made on first use, kept in the auth store)."""
        from joserfc.jwk import RSAKey

        pem = self.auth.meta("oidc_key", lambda: RSAKey.generate_key(
            2048, private=True).as_pem(private=True).decode())
        return RSAKey.import_key(pem, parameters={"use": "sig", "alg": "RS256"})

    def _id_token(self, client_id: str, user_id: str, username: str, access_token: str,
                  nonce: str | None) -> str:
        """An OpenID Connect id token, signed RS256 with the key published at /id/keys."""
        from joserfc import jwt

        key = self._signing_key()
        digest = hashlib.sha256(access_token.encode()).digest()
        now = int(time.time())
        claims: dict[str, Any] = {
            "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode(),
            "sub": self.state.identity_url(user_id), "aud": client_id,
            "iss": self.state.login_url, "exp": now + 300, "iat": now,
            "preferred_username": username, "email": username, "email_verified": True,
        }
        if nonce:
            claims["nonce"] = nonce
        return jwt.encode({"alg": "RS256", "kid": key.thumbprint()}, claims, key)

    async def jwks(self, request: Request) -> Response:
        """`/id/keys`: the public keys that verify id tokens."""
        key = await run_in_threadpool(self._signing_key)
        public = {**key.as_dict(private=False), "kid": key.thumbprint(), "use": "sig",
                  "alg": "RS256"}
        return json_response({"keys": [public]})

    def _token_body(self, *, app: ConnectedApp, username: str, user_id: str, scopes: str,
                    secret: str | None, refresh: bool, parent_hash: str | None = None,
                    include_scope: bool = True, nonce: str | None = None) -> dict[str, Any]:
        state = self.state
        refresh_token = None
        if refresh:
            refresh_token, issued_refresh = self.auth.issue_refresh_token(
                username, user_id, app.client_id, scopes, ttl=app.refresh_token_ttl)
            # Access tokens minted from this grant end when the refresh token is revoked.
            parent_hash = issued_refresh.token_hash
        access, issued = self.auth.issue_access_token(state.org_id, username, user_id,
                                                      app.client_id, scopes,
                                                      parent_hash=parent_hash)
        identity = state.identity_url(user_id)
        issued_at = str(int(issued.issued_at * 1000))
        key = secret.encode() if secret else self.auth.signing_key()
        signature = base64.b64encode(
            hmac.new(key, (identity + issued_at).encode(), hashlib.sha256).digest()).decode()
        body: dict[str, Any] = {"access_token": access}
        if refresh_token is not None:
            body["refresh_token"] = refresh_token
        if "openid" in scopes.split():
            body["id_token"] = self._id_token(app.client_id, user_id, username, access,
                                              nonce)
        body["signature"] = signature
        if include_scope:
            body["scope"] = scopes
        body.update({"instance_url": state.instance_url, "id": identity,
                     "token_type": "Bearer", "issued_at": issued_at})
        return body

    def _client(self, form: FormData, request: Request) -> tuple[ConnectedApp, str | None]:
        client_id = form.get("client_id")
        secret = form.get("client_secret")
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
                client_id, _, secret = decoded.partition(":")
            except (ValueError, UnicodeDecodeError):
                raise OAuthError("invalid_client", "invalid client credentials") from None
        if not client_id:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        app = self.auth.app(str(client_id))
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        return app, str(secret) if secret else None

    def _require_secret(self, app: ConnectedApp, secret: str | None) -> None:
        if not app.is_public and not app.check_secret(secret):
            raise OAuthError("invalid_client", "invalid client credentials")

    def _scopes(self, app: ConnectedApp, requested: str | None) -> str:
        if not requested:
            return app.scopes
        allowed = set(app.scopes.split()) | {"api", "refresh_token", "offline_access", "id",
                                             "openid", "profile", "email", "web", "full"}
        wanted = [s for s in requested.split() if s in allowed]
        return " ".join(wanted) if wanted else app.scopes

    # -- /token -----------------------------------------------------------------------------
    async def token(self, request: Request) -> Response:
        form = await request.form()
        try:
            body = await run_in_threadpool(self._grant, form, request)
        except OAuthError as exc:
            return exc.response()
        return json_response(body, 200, {"Cache-Control": "no-cache,must-revalidate,"
                                                          "max-age=0,no-store,private"})

    def _grant(self, form: FormData, request: Request) -> dict[str, Any]:
        grant = form.get("grant_type")
        if grant == "authorization_code":
            return self._authorization_code(form, request)
        if grant == "refresh_token":
            return self._refresh(form, request)
        if grant == "password":
            return self._password(form, request)
        if grant == "client_credentials":
            return self._client_credentials(form, request)
        if grant == JWT_BEARER:
            return self._jwt_bearer(form)
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _authorization_code(self, form: FormData, request: Request) -> dict[str, Any]:
        app, secret = self._client(form, request)
        code = self.auth.take_code(str(form.get("code") or ""))
        if code is None or code.client_id != app.client_id:
            raise OAuthError("invalid_grant", "invalid authorization code")
        if str(form.get("redirect_uri") or "") != code.extra.get("redirect_uri"):
            raise OAuthError("redirect_uri_mismatch", "redirect_uri must match configuration")
        challenge = code.extra.get("code_challenge")
        verifier = form.get("code_verifier")
        if challenge:
            if not verifier or not pkce_matches(str(verifier), str(challenge),
                                                str(code.extra.get("code_challenge_method"))):
                raise OAuthError("invalid_grant", "invalid code verifier")
        elif verifier:
            raise OAuthError("invalid_grant", "invalid code verifier")
        if not challenge:
            # Without PKCE only a confidential client may redeem a code.
            self._require_secret(app, secret)
        elif secret is not None:
            self._require_secret(app, secret)
        refresh = bool({"refresh_token", "offline_access"} & set(code.scopes.split()))
        nonce = code.extra.get("nonce")
        return self._token_body(app=app, username=code.username, user_id=code.user_id,
                                scopes=code.scopes, secret=secret, refresh=refresh,
                                nonce=str(nonce) if nonce else None)

    def _refresh(self, form: FormData, request: Request) -> dict[str, Any]:
        app, secret = self._client(form, request)
        if secret is not None:
            self._require_secret(app, secret)
        grant = self.auth.refresh_token(str(form.get("refresh_token") or ""))
        if grant is None or grant.client_id != app.client_id:
            raise OAuthError("invalid_grant", "expired access/refresh token")
        rotate = app.rotate_refresh_tokens or self.state.faults.rotate_refresh_tokens
        if rotate:
            self.auth.revoke_refresh_hash(grant.token_hash)
        body = self._token_body(app=app, username=grant.username, user_id=grant.user_id,
                                scopes=grant.scopes, secret=secret, refresh=rotate,
                                parent_hash=None if rotate else grant.token_hash)
        return body

    def _password(self, form: FormData, request: Request) -> dict[str, Any]:
        app, secret = self._client(form, request)
        self._require_secret(app, secret)
        user = self.auth.check_password(str(form.get("username") or ""),
                                        str(form.get("password") or ""))
        if user is None:
            raise OAuthError("invalid_grant", "authentication failure")
        requested = form.get("scope")
        scopes = self._scopes(app, str(requested) if requested else None)
        return self._token_body(app=app, username=user[1], user_id=user[0], scopes=scopes,
                                secret=secret, refresh=False, include_scope=False)

    def _client_credentials(self, form: FormData, request: Request) -> dict[str, Any]:
        app, secret = self._client(form, request)
        if app.is_public or not app.check_secret(secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        if not app.run_as_username:
            raise OAuthError("invalid_grant", "no client credentials user enabled")
        user = self.auth.user(app.run_as_username)
        if user is None:
            raise OAuthError("invalid_grant", "no client credentials user enabled")
        return self._token_body(app=app, username=user[1], user_id=user[0],
                                scopes=self._scopes(app, None), secret=secret, refresh=False)

    def _jwt_bearer(self, form: FormData) -> dict[str, Any]:
        from joserfc import jws
        from joserfc.errors import JoseError
        from joserfc.jwk import RSAKey

        assertion = str(form.get("assertion") or "")
        try:
            compact = jws.extract_compact(assertion.encode())
            claims = orjson.loads(compact.payload)
        except (JoseError, ValueError):
            raise OAuthError("invalid_grant", "invalid assertion") from None
        if not isinstance(claims, dict) or compact.protected.get("alg") != "RS256":
            raise OAuthError("invalid_grant", "invalid assertion")
        app = self.auth.app(str(claims.get("iss") or ""))
        if app is None:
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not app.certificate_pem:
            raise OAuthError("invalid_grant", "invalid assertion")
        try:
            key = RSAKey.import_key(_public_key_pem(app.certificate_pem))
            jws.deserialize_compact(assertion, key, algorithms=["RS256"])
        except (JoseError, ValueError):
            raise OAuthError("invalid_grant", "invalid assertion") from None
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        valid = {self.state.login_url.rstrip("/"), *SALESFORCE_AUDIENCES}
        if not any(isinstance(a, str) and a.rstrip("/") in valid for a in audiences):
            raise OAuthError("invalid_grant", "audience is invalid")
        exp = claims.get("exp")
        now = time.time()
        if not isinstance(exp, int | float) or exp <= now:
            raise OAuthError("invalid_grant", "expired authorization code")
        if exp > now + JWT_MAX_LIFETIME_SECONDS:
            raise OAuthError("invalid_grant", "invalid assertion")
        user = self.auth.user(str(claims.get("sub") or ""))
        if user is None:
            raise OAuthError("invalid_grant", "user hasn't approved this consumer")
        scopes = self._scopes(app, None)
        return self._token_body(app=app, username=user[1], user_id=user[0], scopes=scopes,
                                secret=None, refresh=False)

    # -- /authorize -------------------------------------------------------------------------
    async def authorize(self, request: Request) -> Response:
        if request.method == "POST":
            params = dict(await request.form())
        else:
            params = dict(request.query_params)
        values = {k: str(v) for k, v in params.items()}
        client_id = values.get("client_id", "")
        app = self.auth.app(client_id)
        if app is None:
            return HTMLResponse(error_page("invalid_client_id", "client identifier invalid"),
                                400)
        redirect_uri = values.get("redirect_uri", "")
        if not redirect_uri or not redirect_uri_allowed(app, redirect_uri):
            return HTMLResponse(error_page("redirect_uri_mismatch",
                                           "redirect_uri must match configuration"), 400)
        state = values.get("state")

        def back(**query: str) -> Response:
            if state is not None:
                query["state"] = state
            sep = "&" if urlsplit(redirect_uri).query else "?"
            return RedirectResponse(redirect_uri + sep + urlencode(query), status_code=302)

        if values.get("response_type") != "code":
            return back(error="unsupported_response_type",
                        error_description="response type not supported")
        challenge = values.get("code_challenge", "")
        method = values.get("code_challenge_method") or "S256"
        if method not in ("S256", "plain"):
            return back(error="invalid_request",
                        error_description="unsupported code challenge method")
        if app.require_pkce and not challenge:
            return back(error="invalid_request",
                        error_description="missing required code challenge")
        scopes = self._scopes(app, values.get("scope"))
        hidden = {k: v for k, v in values.items()
                  if k in ("response_type", "client_id", "redirect_uri", "state", "scope",
                           "code_challenge", "code_challenge_method", "prompt", "nonce")}
        if request.method == "GET":
            return HTMLResponse(login_page(app_name=app.name, scopes=scopes, hidden=hidden,
                                           username=values.get("login_hint", "")))
        if values.get("action") == "deny":
            return back(error="access_denied",
                        error_description="end-user denied authorization")
        user = await run_in_threadpool(self.auth.check_password, values.get("username", ""),
                                       values.get("password", ""))
        if user is None:
            page = login_page(app_name=app.name, scopes=scopes, hidden=hidden,
                              error="Please check your username and password. If you still "
                                    "can't log in, contact your Salesforce administrator.",
                              username=values.get("username", ""))
            return HTMLResponse(page, 200)
        code = self.auth.issue_code(user[1], user[0], app.client_id, scopes, {
            "redirect_uri": redirect_uri, "code_challenge": challenge,
            "code_challenge_method": method, "nonce": values.get("nonce")})
        return back(code=code)

    # -- /revoke ----------------------------------------------------------------------------
    async def revoke(self, request: Request) -> Response:
        token = request.query_params.get("token")
        if request.method == "POST":
            form = await request.form()
            token = str(form.get("token") or token or "")
        if not token:
            return OAuthError("unsupported_token_type", "this token type is not supported"
                              ).response()
        revoked = await run_in_threadpool(self.auth.revoke, token)
        if not revoked:
            return OAuthError("invalid_token", "invalid token").response()
        return Response(status_code=200)

    # -- /introspect (RFC 7662) --------------------------------------------------------------
    async def introspect(self, request: Request) -> Response:
        """Whether a token is active, for resource servers that validate bearer tokens."""
        form = await request.form()
        try:
            app, secret = self._client(form, request)
            if app.is_public or not app.check_secret(secret):
                raise OAuthError("invalid_client", "invalid client credentials", 401)
        except OAuthError as exc:
            return exc.response()
        token = str(form.get("token") or "")
        hint = str(form.get("token_type_hint") or "")
        body: dict[str, Any] = {"active": False}
        session = None
        if hint != "refresh_token":
            session = self.auth.session(token, self.state.org_id)
        if session is not None:
            body = {"active": True, "scope": session.scopes, "client_id": session.client_id,
                    "username": session.username, "sub": self.state.identity_url(
                        session.user_id), "token_type": "access_token",
                    "exp": int(session.expires_at), "iat": int(session.issued_at),
                    "nbf": int(session.issued_at)}
        elif hint != "access_token":
            grant = self.auth.refresh_token(token)
            if grant is not None:
                body = {"active": True, "scope": grant.scopes, "client_id": grant.client_id,
                        "username": grant.username,
                        "sub": self.state.identity_url(grant.user_id),
                        "token_type": "refresh_token", "exp": int(grant.expires_at),
                        "iat": int(grant.issued_at), "nbf": int(grant.issued_at)}
        return json_response(body)

    # -- identity ---------------------------------------------------------------------------
    def _session(self, request: Request) -> Session | None:
        token = bearer_token(request.scope) or request.query_params.get("oauth_token")
        if not token:
            return None
        return self.auth.session(token, self.state.org_id)

    def _user_record(self, user_id: str) -> dict[str, Any]:
        try:
            record = self.state.store.retrieve("User", user_id)
        except Exception:  # noqa: BLE001 - identity must answer even for odd user rows
            return {}
        return {k: v for k, v in record.items() if k != "attributes"}

    def _urls(self, user_id: str) -> dict[str, str]:
        base = self.state.instance_url
        org = self.state.org_id
        return {
            "enterprise": f"{base}/services/Soap/c/{{version}}/{org}",
            "metadata": f"{base}/services/Soap/m/{{version}}/{org}",
            "partner": f"{base}/services/Soap/u/{{version}}/{org}",
            "rest": f"{base}/services/data/v{{version}}/",
            "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
            "search": f"{base}/services/data/v{{version}}/search/",
            "query": f"{base}/services/data/v{{version}}/query/",
            "recent": f"{base}/services/data/v{{version}}/recent/",
            "tooling_soap": f"{base}/services/Soap/T/{{version}}/{org}",
            "tooling_rest": f"{base}/services/data/v{{version}}/tooling/",
            "profile": f"{base}/{user_id}",
            "feeds": f"{base}/services/data/v{{version}}/chatter/feeds",
            "groups": f"{base}/services/data/v{{version}}/chatter/groups",
            "users": f"{base}/services/data/v{{version}}/chatter/users",
            "feed_items": f"{base}/services/data/v{{version}}/chatter/feed-items",
            "feed_elements": f"{base}/services/data/v{{version}}/chatter/feed-elements",
            "custom_domain": base,
        }

    async def identity(self, request: Request) -> Response:
        session = self._session(request)
        org_id, user_id = request.path_params["org_id"], request.path_params["user_id"]
        if session is None:
            return PlainTextResponse("Bad_OAuth_Token", 403)
        if org_id[:15] != self.state.org_id[:15]:
            return PlainTextResponse("Bad_Id", 403)
        known = self.auth.user_by_id(_to_18(user_id))
        if known is None:
            return PlainTextResponse("Bad_Id", 403)
        user = await run_in_threadpool(self._user_record, known[0])
        body = {
            "id": self.state.identity_url(known[0]),
            "asserted_user": known[0] == session.user_id,
            "user_id": known[0],
            "organization_id": self.state.org_id,
            "username": known[1],
            "nick_name": user.get("CommunityNickname") or known[1].split("@")[0],
            "display_name": user.get("Name") or known[1],
            "email": user.get("Email") or known[1],
            "email_verified": True,
            "first_name": user.get("FirstName"),
            "last_name": user.get("LastName"),
            "timezone": user.get("TimeZoneSidKey") or "GMT",
            "photos": {"picture": f"{self.state.instance_url}/img/userprofile/default_profile_200_v2.png",
                       "thumbnail": f"{self.state.instance_url}/img/userprofile/default_profile_45_v2.png"},
            "addr_street": None, "addr_city": None, "addr_state": None,
            "addr_country": None, "addr_zip": None,
            "mobile_phone": None, "mobile_phone_verified": False,
            "is_lightning_login_user": False,
            "status": {"created_date": None, "body": None},
            "urls": self._urls(known[0]),
            "active": True,
            "user_type": "STANDARD",
            "language": user.get("LanguageLocaleKey") or "en_US",
            "locale": user.get("LocaleSidKey") or "en_US",
            "utcOffset": 0,
            "last_modified_date": user.get("LastModifiedDate"),
            "is_app_installed": True,
        }
        return json_response(body)

    async def userinfo(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return PlainTextResponse("Bad_OAuth_Token", 403)
        user = await run_in_threadpool(self._user_record, session.user_id)
        identity = self.state.identity_url(session.user_id)
        body = {
            "sub": identity,
            "user_id": session.user_id,
            "organization_id": self.state.org_id,
            "preferred_username": session.username,
            "nickname": user.get("CommunityNickname") or session.username.split("@")[0],
            "name": user.get("Name") or session.username,
            "email": user.get("Email") or session.username,
            "email_verified": True,
            "given_name": user.get("FirstName"),
            "family_name": user.get("LastName"),
            "zoneinfo": user.get("TimeZoneSidKey") or "GMT",
            "photos": {"picture": f"{self.state.instance_url}/img/userprofile/default_profile_200_v2.png",
                       "thumbnail": f"{self.state.instance_url}/img/userprofile/default_profile_45_v2.png"},
            "profile": f"{self.state.instance_url}/{session.user_id}",
            "picture": f"{self.state.instance_url}/img/userprofile/default_profile_200_v2.png",
            "address": {},
            "urls": self._urls(session.user_id),
            "active": True,
            "user_type": "STANDARD",
            "language": user.get("LanguageLocaleKey") or "en_US",
            "locale": user.get("LocaleSidKey") or "en_US",
            "utcOffset": 0,
            "updated_at": user.get("LastModifiedDate"),
            "is_app_installed": True,
        }
        return json_response(body)

    async def openid_configuration(self, request: Request) -> Response:
        base = self.state.instance_url
        return json_response({
            "issuer": base,
            "authorization_endpoint": f"{base}/services/oauth2/authorize",
            "token_endpoint": f"{base}/services/oauth2/token",
            "revocation_endpoint": f"{base}/services/oauth2/revoke",
            "userinfo_endpoint": f"{base}/services/oauth2/userinfo",
            "introspection_endpoint": f"{base}/services/oauth2/introspect",
            "jwks_uri": f"{base}/id/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "refresh_token", "password",
                                      "client_credentials", JWT_BEARER],
            "code_challenge_methods_supported": ["S256", "plain"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["api", "refresh_token", "offline_access", "id", "profile",
                                 "email", "openid", "web", "full"],
            "token_endpoint_auth_methods_supported": ["client_secret_post",
                                                      "client_secret_basic", "none"],
            "claims_supported": ["sub", "user_id", "organization_id", "preferred_username",
                                 "name", "email", "given_name", "family_name"],
        })


def _to_18(record_id: str) -> str:
    from .ids import is_valid_id, normalize_id

    return normalize_id(record_id) if is_valid_id(record_id) else record_id


def _public_key_pem(certificate_or_key: str) -> str:
    """The public key of a PEM certificate (or a PEM public key as is)."""
    if "BEGIN CERTIFICATE" not in certificate_or_key:
        return certificate_or_key
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_pem_x509_certificate(certificate_or_key.encode())
    return cert.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def oauth_routes(state: OrgState) -> list[BaseRoute]:
    """The login server's routes."""
    server = OAuthServer(state)
    state.extras["oauth"] = server
    return [
        Route("/services/oauth2/authorize", server.authorize, methods=["GET", "POST"]),
        Route("/services/oauth2/token", server.token, methods=["POST"]),
        Route("/services/oauth2/revoke", server.revoke, methods=["GET", "POST"]),
        Route("/services/oauth2/userinfo", server.userinfo, methods=["GET", "POST"]),
        Route("/services/oauth2/introspect", server.introspect, methods=["POST"]),
        Route("/id/keys", server.jwks, methods=["GET"]),
        Route("/id/{org_id}/{user_id}", server.identity, methods=["GET", "POST"]),
        Route("/.well-known/openid-configuration", server.openid_configuration,
              methods=["GET"]),
    ]

