"""The org store: private files, atomic writes, clear errors, encryption, keyring."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from sfbulk_mcp.auth.errors import OrgNotFoundError, OrgStoreError
from sfbulk_mcp.auth.oauth import TokenGrant
from sfbulk_mcp.auth.store import OrgRecord, OrgSecrets, OrgStore
from sfbulk_mcp.auth.vault import FileVault, KeyringVault, keyring_usable
from sfbulk_mcp.salesforce.credentials import Token


def _record(alias: str = "prod", **changes: Any) -> OrgRecord:
    values: dict[str, Any] = {
        "alias": alias,
        "instance_url": "https://acme.my.salesforce.com",
        "login_url": "https://login.salesforce.com",
        "auth_method": "web",
        "username": "ada@acme.test",
        "client_id": "app",
        "expires_at": time.time() + 3600,
    }
    values.update(changes)
    return OrgRecord(**values)


SECRETS = OrgSecrets(access_token="AT-SECRET-1", refresh_token="RT-SECRET-1")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_files_are_private_and_hold_secrets_apart(config_dir: Path) -> None:
    store = OrgStore()
    store.save(_record(), SECRETS)
    assert store.path == config_dir / "orgs.json"
    assert _mode(config_dir / "orgs.json") == 0o600
    assert _mode(config_dir / "secrets.json") == 0o600
    assert _mode(config_dir) == 0o700
    assert "SECRET" not in (config_dir / "orgs.json").read_text()
    assert store.secrets("prod").refresh_token == "RT-SECRET-1"


def test_first_org_becomes_default_and_set_default_moves_it(config_dir: Path) -> None:
    store = OrgStore()
    store.save(_record("prod"), SECRETS)
    store.save(_record("uat"), SECRETS)
    assert store.default_alias() == "prod"
    store.save(_record("dev"), SECRETS, make_default=True)
    assert store.default_alias() == "dev"
    assert [r.alias for r in store.list_orgs() if r.is_default] == ["dev"]
    store.remove("dev")
    assert store.default_alias() is None


def test_unknown_alias_lists_the_known_ones(config_dir: Path) -> None:
    store = OrgStore()
    store.save(_record("prod"), SECRETS)
    with pytest.raises(OrgNotFoundError, match="prod") as caught:
        store.get("staging")
    assert "sfbulk login --alias staging" in str(caught.value)


def test_store_readable_by_others_is_refused_with_chmod_advice(config_dir: Path) -> None:
    store = OrgStore()
    store.save(_record(), SECRETS)
    os.chmod(config_dir / "secrets.json", 0o644)
    with pytest.raises(OrgStoreError) as caught:
        store.secrets("prod")
    assert f"chmod 600 {config_dir / 'secrets.json'}" in str(caught.value)
    os.chmod(config_dir / "orgs.json", 0o640)
    with pytest.raises(OrgStoreError, match="chmod 600"):
        store.list_orgs()


def test_corrupt_store_gives_a_clear_error(config_dir: Path) -> None:
    store = OrgStore()
    store.save(_record(), SECRETS)
    (config_dir / "orgs.json").write_text('{"format": "sfbulk-orgs", "orgs": ')
    with pytest.raises(OrgStoreError, match="corrupt") as caught:
        store.list_orgs()
    assert "sfbulk login" in str(caught.value)
    (config_dir / "secrets.json").write_bytes(b"\x00\xff garbage")
    with pytest.raises(OrgStoreError, match="corrupt"):
        FileVault(config_dir / "secrets.json").get("prod")


def test_a_failed_write_leaves_the_previous_store_intact(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = OrgStore()
    store.save(_record("prod"), SECRETS)
    before = (config_dir / "orgs.json").read_bytes()

    def crash(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OrgStoreError, match="No space left"):
        store.save(_record("uat"), SECRETS)
    monkeypatch.undo()
    assert (config_dir / "orgs.json").read_bytes() == before
    assert [p.name for p in config_dir.iterdir() if p.name.endswith(".tmp")] == []
    assert [r.alias for r in OrgStore(config_dir, env={"SFBULK_SECRETS": "file"}).list_orgs()] == [
        "prod"
    ]


def test_renewed_and_rotated_tokens_are_persisted(config_dir: Path) -> None:
    store = OrgStore()
    store.save(_record(), SECRETS)
    issued = time.time()
    grant = TokenGrant(
        token=Token(
            access_token="AT-SECRET-2",
            instance_url="https://acme.my.salesforce.com",
            issued_at=issued,
            expires_at=issued + 7200,
        ),
        refresh_token="RT-SECRET-2",
    )
    store.grant_saver("prod")(grant)
    fresh = OrgStore()
    assert fresh.secrets("prod") == OrgSecrets(
        access_token="AT-SECRET-2", refresh_token="RT-SECRET-2"
    )
    assert fresh.get("prod").expires_at == pytest.approx(issued + 7200)
    # Without rotation the old refresh token stays.
    store.update_token("prod", TokenGrant(token=grant.token, refresh_token=None))
    assert OrgStore().secrets("prod").refresh_token == "RT-SECRET-2"


def test_encrypted_secrets_file_hides_tokens(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_ENCRYPTION_KEY", "correct horse battery staple")
    OrgStore().save(_record(), SECRETS)
    raw = (config_dir / "secrets.json").read_text()
    assert "SECRET" not in raw
    assert "AES-256-GCM" in raw
    assert OrgStore().secrets("prod").access_token == "AT-SECRET-1"


def test_wrong_or_missing_encryption_key_gives_a_clear_error(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_ENCRYPTION_KEY", "right key")
    OrgStore().save(_record(), SECRETS)
    monkeypatch.setenv("STORAGE_ENCRYPTION_KEY", "wrong key")
    with pytest.raises(OrgStoreError, match="STORAGE_ENCRYPTION_KEY is not the key"):
        OrgStore().secrets("prod")
    monkeypatch.delenv("STORAGE_ENCRYPTION_KEY")
    with pytest.raises(OrgStoreError, match="is encrypted: set STORAGE_ENCRYPTION_KEY"):
        OrgStore().secrets("prod")


def test_tampered_ciphertext_is_detected(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import orjson

    monkeypatch.setenv("STORAGE_ENCRYPTION_KEY", "k")
    OrgStore().save(_record(), SECRETS)
    path = config_dir / "secrets.json"
    envelope = orjson.loads(path.read_bytes())
    blob = bytearray(__import__("base64").b64decode(envelope["ciphertext"]))
    blob[0] ^= 1
    envelope["ciphertext"] = __import__("base64").b64encode(bytes(blob)).decode()
    path.write_bytes(orjson.dumps(envelope))
    with pytest.raises(OrgStoreError, match="altered"):
        OrgStore().secrets("prod")


def test_secrets_repr_shows_no_secret() -> None:
    assert "SECRET" not in repr(SECRETS)


class _MemoryKeyring(KeyringBackend):
    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.entries:
            raise PasswordDeleteError(username)
        del self.entries[(service, username)]


def test_secrets_go_to_a_working_keyring(config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    previous = keyring.get_keyring()
    memory = _MemoryKeyring()
    keyring.set_keyring(memory)
    try:
        monkeypatch.setenv("SFBULK_SECRETS", "auto")
        assert keyring_usable()
        store = OrgStore()
        assert isinstance(store.vault, KeyringVault)
        store.save(_record(), SECRETS)
        assert not (config_dir / "secrets.json").exists()
        assert "AT-SECRET-1" in memory.entries[("sfbulk-mcp", "prod")]
        assert OrgStore().secrets("prod").refresh_token == "RT-SECRET-1"
        store.remove("prod")
        assert memory.entries == {}
    finally:
        keyring.set_keyring(previous)


def test_fail_keyring_falls_back_to_the_file(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())  # type: ignore[no-untyped-call]
    try:
        monkeypatch.setenv("SFBULK_SECRETS", "auto")
        assert not keyring_usable()
        store = OrgStore()
        store.save(_record(), SECRETS)
        assert store.vault.name == "file"
        assert (config_dir / "secrets.json").exists()
    finally:
        keyring.set_keyring(previous)


def test_concurrent_token_updates_from_many_writers_lose_nothing(config_dir: Path) -> None:
    import threading

    store = OrgStore()
    store.save(_record("a"), SECRETS)
    store.save(_record("b"), SECRETS)

    def renew(alias: str, rounds: int) -> None:
        writer = OrgStore()  # its own instance, as another process would have
        for n in range(rounds):
            grant = TokenGrant(
                token=Token(
                    access_token=f"{alias}-AT-{n}",
                    instance_url="https://acme.my.salesforce.com",
                    issued_at=time.time(),
                    expires_at=time.time() + 60,
                ),
                refresh_token=f"{alias}-RT-{n}",
            )
            writer.update_token(alias, grant)

    threads = [threading.Thread(target=renew, args=(alias, 15)) for alias in ("a", "b", "a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = OrgStore()
    assert {r.alias for r in final.list_orgs()} == {"a", "b"}
    assert final.secrets("a").access_token == "a-AT-14"
    assert final.secrets("b").refresh_token == "b-RT-14"
    assert [p.name for p in config_dir.iterdir() if p.suffix == ".tmp"] == []


def test_setting_an_encryption_key_encrypts_an_existing_plain_store_on_next_write(
    config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    OrgStore().save(_record("prod"), SECRETS)
    assert "AT-SECRET-1" in (config_dir / "secrets.json").read_text()
    monkeypatch.setenv("STORAGE_ENCRYPTION_KEY", "new key")
    store = OrgStore()
    assert store.secrets("prod").access_token == "AT-SECRET-1"  # still readable
    store.save(_record("uat"), SECRETS)
    assert "SECRET" not in (config_dir / "secrets.json").read_text()
    assert OrgStore().secrets("prod").refresh_token == "RT-SECRET-1"
