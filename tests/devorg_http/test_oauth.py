"""OAuth 2.0 flows of the devorg's login server, per Salesforce's and the RFCs' rules."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from sfbulk_mcp.devorg import DevOrg

REDIRECT = "http://localhost:1717/OauthRedirect"


@pytest.fixture
def client(devorg: DevOrg) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=devorg.instance_url, trust_env=False,
                       follow_redirects=False) as c:
        yield c


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(
        hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize(client: httpx2.Client, *, client_id: str = "sfbulk-devorg",
              challenge: str | None = None, state: str = "xyz",
              password: str = "devorg", redirect_uri: str = REDIRECT) -> httpx2.Response:
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
              "state": state, "scope": "api refresh_token"}
    if challenge:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    page = client.get("/services/oauth2/authorize", params=params)
    assert page.status_code == 200 and "<form" in page.text
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    return client.post("/services/oauth2/authorize",
                       data={**hidden, "username": "admin@devorg.local", "password": password,
                             "action": "allow"})


def code_from(response: httpx2.Response) -> dict[str, list[str]]:
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    return parse_qs(urlsplit(location).query)


def assert_token_response(body: dict[str, object], org: DevOrg) -> None:
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == org.instance_url
    assert str(body["id"]).startswith(f"{org.instance_url}/id/{org.org_id}/005")
    assert str(body["issued_at"]).isdigit() and len(str(body["issued_at"])) == 13
    assert isinstance(body["access_token"], str) and body["access_token"].startswith(org.org_id[:15] + "!")


def test_authorization_code_with_pkce(devorg: DevOrg, client: httpx2.Client) -> None:
    verifier, challenge = pkce_pair()
    query = code_from(authorize(client, challenge=challenge))
    assert query["state"] == ["xyz"]
    token = client.post("/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": query["code"][0],
        "client_id": "sfbulk-devorg", "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert token.status_code == 200
    body = token.json()
    assert_token_response(body, devorg)
    assert body["refresh_token"] and set(body["scope"].split()) == {"api", "refresh_token"}
    # Signature: HMAC-SHA256 of id + issued_at (keyed by the org for a public client).
    assert len(base64.b64decode(body["signature"])) == 32
    api = client.get("/services/data/v66.0/limits",
                     headers={"Authorization": f"Bearer {body['access_token']}"})
    assert api.status_code == 200
    # A code is good once.
    again = client.post("/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": query["code"][0],
        "client_id": "sfbulk-devorg", "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_wrong_code_verifier_is_rejected(client: httpx2.Client) -> None:
    _, challenge = pkce_pair()
    query = code_from(authorize(client, challenge=challenge))
    token = client.post("/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": query["code"][0],
        "client_id": "sfbulk-devorg", "redirect_uri": REDIRECT,
        "code_verifier": pkce_pair()[0]})
    assert token.status_code == 400
    assert token.json() == {"error": "invalid_grant", "error_description": "invalid code verifier"}


def test_app_requiring_pkce_redirects_an_error_without_challenge(
        devorg: DevOrg, client: httpx2.Client) -> None:
    devorg.add_connected_app("pkce-only", require_pkce=True)
    response = client.get("/services/oauth2/authorize", params={
        "response_type": "code", "client_id": "pkce-only", "redirect_uri": REDIRECT,
        "state": "s1"})
    query = code_from(response)
    assert query["error"] == ["invalid_request"] and query["state"] == ["s1"]


def test_authorize_errors_never_redirect_to_unknown_places(client: httpx2.Client) -> None:
    unknown = client.get("/services/oauth2/authorize", params={
        "response_type": "code", "client_id": "nope", "redirect_uri": REDIRECT})
    assert unknown.status_code == 400 and "invalid_client_id" in unknown.text
    elsewhere = client.get("/services/oauth2/authorize", params={
        "response_type": "code", "client_id": "sfbulk-devorg",
        "redirect_uri": "https://evil.example/cb"})
    assert elsewhere.status_code == 400 and "redirect_uri_mismatch" in elsewhere.text
    # Any loopback port is a registered redirect for the default app.
    loopback = client.get("/services/oauth2/authorize", params={
        "response_type": "code", "client_id": "sfbulk-devorg",
        "redirect_uri": "http://127.0.0.1:53682/callback"})
    assert loopback.status_code == 200


def test_denied_and_bad_password(client: httpx2.Client) -> None:
    page = client.get("/services/oauth2/authorize", params={
        "response_type": "code", "client_id": "sfbulk-devorg", "redirect_uri": REDIRECT,
        "state": "d"})
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    denied = client.post("/services/oauth2/authorize", data={**hidden, "action": "deny",
                                                              "username": "x"})
    assert code_from(denied)["error"] == ["access_denied"]
    wrong = authorize(client, password="wrong")
    assert wrong.status_code == 200 and "check your username and password" in wrong.text


def test_refresh_token_with_and_without_rotation(devorg: DevOrg, client: httpx2.Client) -> None:
    verifier, challenge = pkce_pair()
    code = code_from(authorize(client, challenge=challenge))["code"][0]
    first = client.post("/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": "sfbulk-devorg",
        "redirect_uri": REDIRECT, "code_verifier": verifier}).json()
    refresh = first["refresh_token"]
    renewed = client.post("/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh, "client_id": "sfbulk-devorg"})
    assert renewed.status_code == 200
    assert "refresh_token" not in renewed.json()
    assert renewed.json()["access_token"] != first["access_token"]

    devorg.faults.rotate_refresh_tokens = True
    rotated = client.post("/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh,
        "client_id": "sfbulk-devorg"}).json()
    assert rotated["refresh_token"] != refresh
    reused = client.post("/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": refresh, "client_id": "sfbulk-devorg"})
    assert reused.status_code == 400
    assert reused.json() == {"error": "invalid_grant",
                             "error_description": "expired access/refresh token"}
    newest = client.post("/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": rotated["refresh_token"],
        "client_id": "sfbulk-devorg"})
    assert newest.status_code == 200


def test_password_grant_with_security_token(devorg: DevOrg, client: httpx2.Client) -> None:
    username = f"pw-{uuid.uuid4().hex[:8]}@devorg.local"
    devorg.add_user(username, "s3cret", security_token="TOKEN123")
    devorg.add_connected_app("confidential", secret="shh")
    ok = client.post("/services/oauth2/token", data={
        "grant_type": "password", "client_id": "confidential", "client_secret": "shh",
        "username": username, "password": "s3cretTOKEN123"})
    assert ok.status_code == 200
    body = ok.json()
    assert_token_response(body, devorg)
    assert "refresh_token" not in body
    expected = base64.b64encode(hmac.new(b"shh", (body["id"] + body["issued_at"]).encode(),
                                         hashlib.sha256).digest()).decode()
    assert body["signature"] == expected
    bad = client.post("/services/oauth2/token", data={
        "grant_type": "password", "client_id": "confidential", "client_secret": "shh",
        "username": username, "password": "wrong"})
    assert bad.json() == {"error": "invalid_grant", "error_description": "authentication failure"}
    bad_secret = client.post("/services/oauth2/token", data={
        "grant_type": "password", "client_id": "confidential", "client_secret": "nope",
        "username": username, "password": "s3cret"})
    assert bad_secret.json()["error"] == "invalid_client"
    unknown = client.post("/services/oauth2/token", data={
        "grant_type": "password", "client_id": "who", "username": username,
        "password": "s3cret"})
    assert unknown.json() == {"error": "invalid_client_id",
                              "error_description": "client identifier invalid"}
    unsupported = client.post("/services/oauth2/token", data={"grant_type": "magic"})
    assert unsupported.json()["error"] == "unsupported_grant_type"


def test_client_credentials_runs_as_the_configured_user(devorg: DevOrg,
                                                        client: httpx2.Client) -> None:
    devorg.add_connected_app("machine", secret="m-secret", run_as="admin@devorg.local")
    ok = client.post("/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "machine",
        "client_secret": "m-secret"})
    assert ok.status_code == 200
    assert_token_response(ok.json(), devorg)
    basic = base64.b64encode(b"machine:m-secret").decode()
    via_header = client.post("/services/oauth2/token", data={"grant_type": "client_credentials"},
                             headers={"Authorization": f"Basic {basic}"})
    assert via_header.status_code == 200
    devorg.add_connected_app("no-user", secret="x")
    no_user = client.post("/services/oauth2/token", data={
        "grant_type": "client_credentials", "client_id": "no-user", "client_secret": "x"})
    assert no_user.json() == {"error": "invalid_grant",
                              "error_description": "no client credentials user enabled"}


def _key_and_certificate() -> tuple[rsa.RSAPrivateKey, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jwt test")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def _jwt(key: rsa.RSAPrivateKey, claims: dict[str, object]) -> str:
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = (b64(json.dumps({"alg": "RS256"}).encode()) + "."
                     + b64(json.dumps(claims).encode()))
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64(signature)


def test_jwt_bearer_flow(devorg: DevOrg, client: httpx2.Client) -> None:
    key, certificate = _key_and_certificate()
    devorg.add_connected_app("jwt-app", certificate_pem=certificate)
    claims = {"iss": "jwt-app", "sub": "admin@devorg.local", "aud": devorg.login_url,
              "exp": int(time.time()) + 120}
    grant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
    ok = client.post("/services/oauth2/token",
                     data={"grant_type": grant, "assertion": _jwt(key, claims)})
    assert ok.status_code == 200, ok.text
    assert_token_response(ok.json(), devorg)
    assert "refresh_token" not in ok.json()

    other_key, _ = _key_and_certificate()
    forged = client.post("/services/oauth2/token",
                         data={"grant_type": grant, "assertion": _jwt(other_key, claims)})
    assert forged.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}
    wrong_aud = client.post("/services/oauth2/token", data={
        "grant_type": grant, "assertion": _jwt(key, {**claims, "aud": "https://elsewhere"})})
    assert wrong_aud.json() == {"error": "invalid_grant",
                                "error_description": "audience is invalid"}
    expired = client.post("/services/oauth2/token", data={
        "grant_type": grant, "assertion": _jwt(key, {**claims, "exp": int(time.time()) - 10})})
    assert expired.json()["error"] == "invalid_grant"
    stranger = client.post("/services/oauth2/token", data={
        "grant_type": grant, "assertion": _jwt(key, {**claims, "sub": "nobody@x.y"})})
    assert stranger.json() == {"error": "invalid_grant",
                               "error_description": "user hasn't approved this consumer"}


def test_revoke_userinfo_and_identity(devorg: DevOrg, client: httpx2.Client) -> None:
    token = client.post("/services/oauth2/token", data={
        "grant_type": "password", "client_id": "sfbulk-devorg",
        "username": "admin@devorg.local", "password": "devorg"}).json()
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    info = client.get("/services/oauth2/userinfo", headers=bearer)
    assert info.status_code == 200
    assert info.json()["preferred_username"] == "admin@devorg.local"
    assert info.json()["organization_id"] == devorg.org_id
    identity = client.get(token["id"], headers=bearer)
    assert identity.status_code == 200
    assert identity.json()["username"] == "admin@devorg.local"
    assert identity.json()["urls"]["rest"] == f"{devorg.instance_url}/services/data/v{{version}}/"

    revoked = client.post("/services/oauth2/revoke", data={"token": token["access_token"]})
    assert revoked.status_code == 200
    after = client.get("/services/data/v66.0/limits", headers=bearer)
    assert after.status_code == 401
    assert client.get("/services/oauth2/userinfo", headers=bearer).status_code == 403
    again = client.post("/services/oauth2/revoke", data={"token": token["access_token"]})
    assert again.status_code == 400


def test_access_tokens_expire_after_their_ttl() -> None:
    with DevOrg(token_ttl=1.0) as org, httpx2.Client(base_url=org.instance_url,
                                                     trust_env=False) as client:
        token = client.post("/services/oauth2/token", data={
            "grant_type": "password", "client_id": "sfbulk-devorg",
            "username": "admin@devorg.local", "password": "devorg"}).json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}"}
        assert client.get("/services/data/v66.0/limits", headers=bearer).status_code == 200
        time.sleep(1.3)
        expired = client.get("/services/data/v66.0/limits", headers=bearer)
        assert expired.status_code == 401
        assert expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"


def test_openid_configuration(devorg: DevOrg, client: httpx2.Client) -> None:
    config = client.get("/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == f"{devorg.instance_url}/services/oauth2/token"
    assert "S256" in config["code_challenge_methods_supported"]


def test_openid_scope_returns_a_verifiable_id_token(devorg: DevOrg,
                                                    client: httpx2.Client) -> None:
    from joserfc import jwt
    from joserfc.jwk import KeySet

    verifier, challenge = pkce_pair()
    page = client.get("/services/oauth2/authorize", params={
        "response_type": "code", "client_id": "sfbulk-devorg", "redirect_uri": REDIRECT,
        "scope": "openid api refresh_token", "nonce": "n-42", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    code = code_from(client.post("/services/oauth2/authorize", data={
        **hidden, "username": "admin@devorg.local", "password": "devorg",
        "action": "allow"}))["code"][0]
    body = client.post("/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": "sfbulk-devorg",
        "redirect_uri": REDIRECT, "code_verifier": verifier}).json()
    keys = KeySet.import_key_set(client.get("/id/keys").json())
    token = jwt.decode(body["id_token"], keys, algorithms=["RS256"])
    assert token.claims["aud"] == "sfbulk-devorg"
    assert token.claims["nonce"] == "n-42"
    assert token.claims["sub"] == body["id"]
    assert token.claims["iss"] == devorg.login_url


def test_app_level_refresh_token_rotation_and_plain_pkce(devorg: DevOrg,
                                                         client: httpx2.Client) -> None:
    devorg.add_connected_app("rotating", rotate_refresh_tokens=True)
    verifier = secrets.token_urlsafe(48)
    page = client.get("/services/oauth2/authorize", params={
        "response_type": "code", "client_id": "rotating", "redirect_uri": REDIRECT,
        "code_challenge": verifier, "code_challenge_method": "plain"})
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page.text))
    code = code_from(client.post("/services/oauth2/authorize", data={
        **hidden, "username": "admin@devorg.local", "password": "devorg",
        "action": "allow"}))["code"][0]
    first = client.post("/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": "rotating",
        "redirect_uri": REDIRECT, "code_verifier": verifier}).json()
    second = client.post("/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        "client_id": "rotating"}).json()
    assert second["refresh_token"] != first["refresh_token"]
    stale = client.post("/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": first["refresh_token"],
        "client_id": "rotating"})
    assert stale.status_code == 400


def test_revoking_a_refresh_token_ends_its_sessions(devorg: DevOrg,
                                                    client: httpx2.Client) -> None:
    verifier, challenge = pkce_pair()
    code = code_from(authorize(client, challenge=challenge))["code"][0]
    tokens = client.post("/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": code, "client_id": "sfbulk-devorg",
        "redirect_uri": REDIRECT, "code_verifier": verifier}).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/services/data/v66.0/limits", headers=bearer).status_code == 200
    assert client.post("/services/oauth2/revoke",
                       data={"token": tokens["refresh_token"]}).status_code == 200
    assert client.get("/services/data/v66.0/limits", headers=bearer).status_code == 401
    again = client.post("/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"],
        "client_id": "sfbulk-devorg"})
    assert again.json()["error"] == "invalid_grant"


def test_token_introspection(devorg: DevOrg, client: httpx2.Client) -> None:
    devorg.add_connected_app("resource-server", secret="rs-secret")
    token = devorg.access_token()
    auth = {"client_id": "resource-server", "client_secret": "rs-secret"}
    active = client.post("/services/oauth2/introspect", data={**auth, "token": token}).json()
    assert active["active"] is True and active["username"] == "admin@devorg.local"
    assert active["token_type"] == "access_token" and active["exp"] > active["iat"]
    inactive = client.post("/services/oauth2/introspect",
                           data={**auth, "token": "00D000000000000!nope"}).json()
    assert inactive == {"active": False}
    denied = client.post("/services/oauth2/introspect",
                         data={"client_id": "resource-server", "client_secret": "x",
                               "token": token})
    assert denied.status_code == 401 and denied.json()["error"] == "invalid_client"
