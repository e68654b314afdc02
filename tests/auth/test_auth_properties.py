"""Properties that must hold for any input: URL normalisation, vault round trips, PKCE."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sfbulk_mcp.auth.pkce import s256_challenge
from sfbulk_mcp.auth.urls import jwt_audience, normalize_login_url
from sfbulk_mcp.auth.vault import FileVault

_label = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=12)
_suffix = st.sampled_from(
    [
        ".my.salesforce.com",
        ".sandbox.my.salesforce.com",
        ".lightning.force.com",
        ".scratch.my.salesforce.com",
        ".develop.my.salesforce.com",
    ]
)


@given(_label, _label, _suffix, st.sampled_from(["", "/", "/services/oauth2/token", ":443"]))
def test_normalising_a_my_domain_is_idempotent_and_keeps_the_sandbox_audience(
    name: str, sandbox: str, suffix: str, tail: str
) -> None:
    host = f"{name}--{sandbox}{suffix}" if "sandbox" in suffix else f"{name}{suffix}"
    url = normalize_login_url(f"https://{host.upper()}{tail}")
    assert normalize_login_url(url) == url
    assert url.startswith("https://") and url.endswith(".salesforce.com")
    expected = (
        "https://test.salesforce.com"
        if ".sandbox." in suffix or ".scratch." in suffix
        else "https://login.salesforce.com"
    )
    assert jwt_audience(url) == expected


_secret_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=60)


@settings(max_examples=10, deadline=None)
@given(
    st.dictionaries(
        st.text(string.ascii_letters + "-_.@", min_size=1, max_size=20),
        st.dictionaries(
            st.sampled_from(["access_token", "refresh_token", "client_secret"]),
            _secret_text,
            min_size=1,
        ),
        min_size=1,
        max_size=3,
    ),
    st.one_of(st.none(), _secret_text),
)
def test_vault_round_trips_any_secrets_with_or_without_encryption(
    orgs: dict[str, dict[str, str]], key: str | None
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "secrets.json"
        vault = FileVault(path, encryption_key=key)
        for alias, secrets in orgs.items():
            vault.put(alias, secrets)
        reread = FileVault(path, encryption_key=key)
        assert {alias: reread.get(alias) for alias in orgs} == orgs
        if key:
            raw = path.read_text()
            assert all(v not in raw for s in orgs.values() for v in s.values() if len(v) >= 16)


@given(st.text(string.ascii_letters + string.digits + "-._~", min_size=43, max_size=128))
def test_s256_challenge_is_unpadded_base64url_of_sha256(verifier: str) -> None:
    challenge = s256_challenge(verifier)
    assert len(challenge) == 43
    assert set(challenge) <= set(string.ascii_letters + string.digits + "-_")
