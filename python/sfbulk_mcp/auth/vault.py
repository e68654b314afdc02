"""Where org secrets live: the OS keyring when one works, else a private (encrypted) file.

Secrets are access tokens, refresh tokens, client secrets and passwords. They never go to the
org metadata file, so `sfbulk orgs` can be read without touching them.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from .errors import OrgStoreError
from .files import read_private, write_private

log = logging.getLogger("sfbulk_mcp.auth")

KEYRING_SERVICE = "sfbulk-mcp"
_FORMAT = "sfbulk-secrets"
_AAD = b"sfbulk-secrets-v1"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


class SecretVault(Protocol):
    """Storage for the secrets of each alias."""

    name: str

    def get(self, alias: str) -> dict[str, str] | None:
        """The secrets of `alias`, None when none are stored."""
        ...

    def put(self, alias: str, secrets: dict[str, str]) -> None:
        """Store (replace) the secrets of `alias`."""
        ...

    def delete(self, alias: str) -> None:
        """Forget the secrets of `alias` (no error when absent)."""
        ...


def keyring_usable() -> bool:
    """True when the keyring package has a real backend (not the fail/null placeholders)."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except ImportError:
        return False
    try:
        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - a broken backend configuration means "no keyring"
        return False
    if isinstance(backend, fail.Keyring):
        return False
    if type(backend).__module__.endswith(".null"):
        return False
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return False
    try:
        return float(backend.priority) > 0
    except (AttributeError, TypeError, ValueError):
        return True


class KeyringVault:
    """Secrets in the OS keyring, one JSON entry per alias."""

    name = "keyring"

    def __init__(self, service: str = KEYRING_SERVICE) -> None:
        self._service = service

    def get(self, alias: str) -> dict[str, str] | None:
        import keyring
        from keyring.errors import KeyringError

        try:
            raw = keyring.get_password(self._service, alias)
        except KeyringError as exc:
            raise OrgStoreError(_keyring_failure("read", exc)) from None
        if raw is None:
            return None
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise OrgStoreError(
                f"the keyring entry {self._service}/{alias} is corrupt: run "
                f"`sfbulk logout --alias {alias}` and log in again"
            ) from None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else None

    def put(self, alias: str, secrets: dict[str, str]) -> None:
        import keyring
        from keyring.errors import KeyringError

        try:
            keyring.set_password(self._service, alias, orjson.dumps(secrets).decode())
        except KeyringError as exc:
            raise OrgStoreError(_keyring_failure("write", exc)) from None

    def delete(self, alias: str) -> None:
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            keyring.delete_password(self._service, alias)
        except PasswordDeleteError:
            pass
        except KeyringError as exc:
            raise OrgStoreError(_keyring_failure("delete", exc)) from None


def _keyring_failure(action: str, exc: Exception) -> str:
    return (
        f"cannot {action} secrets in the OS keyring ({type(exc).__name__}); set "
        "SFBULK_SECRETS=file to keep them in a private file instead"
    )


class FileVault:
    """All secrets in one private file, AES-256-GCM encrypted when a key is given.

    The key is derived from `STORAGE_ENCRYPTION_KEY` with scrypt and a random salt kept in
    the file, so any passphrase works and equal passphrases give different keys per file.
    """

    name = "file"

    def __init__(self, path: Path, *, encryption_key: str | None = None) -> None:
        self.path = path
        self._passphrase = encryption_key or None
        self._keys: dict[bytes, bytes] = {}
        self._salt: bytes | None = None

    @property
    def encrypted(self) -> bool:
        """True when this vault writes encrypted files."""
        return self._passphrase is not None

    def get(self, alias: str) -> dict[str, str] | None:
        return self._load().get(alias)

    def put(self, alias: str, secrets: dict[str, str]) -> None:
        orgs = self._load()
        orgs[alias] = dict(secrets)
        self._save(orgs)

    def delete(self, alias: str) -> None:
        orgs = self._load()
        if alias in orgs:
            del orgs[alias]
            self._save(orgs)

    def _load(self) -> dict[str, dict[str, str]]:
        raw = read_private(self.path)
        if raw is None:
            return {}
        envelope = self._parse(raw)
        if "ciphertext" in envelope:
            payload = self._decrypt(envelope)
        else:
            payload = envelope
        orgs = payload.get("orgs")
        if not isinstance(orgs, dict):
            raise self._corrupt("no orgs section")
        return {
            str(alias): {str(k): str(v) for k, v in entry.items()}
            for alias, entry in orgs.items()
            if isinstance(entry, dict)
        }

    def _save(self, orgs: dict[str, dict[str, str]]) -> None:
        payload: dict[str, Any] = {"format": _FORMAT, "version": 1, "orgs": orgs}
        if self._passphrase is None:
            write_private(self.path, orjson.dumps(payload, option=orjson.OPT_INDENT_2))
            return
        # One salt (so one slow key derivation) per file; every write gets a fresh nonce.
        salt = self._salt or os.urandom(16)
        self._salt = salt
        nonce = os.urandom(12)
        key = self._derive(salt)
        sealed = AESGCM(key).encrypt(nonce, orjson.dumps(payload), _AAD)
        envelope = {
            "format": _FORMAT,
            "version": 1,
            "encryption": {
                "cipher": "AES-256-GCM",
                "kdf": "scrypt",
                "n": _SCRYPT_N,
                "r": _SCRYPT_R,
                "p": _SCRYPT_P,
                "salt": _b64(salt),
                "nonce": _b64(nonce),
            },
            "ciphertext": _b64(sealed),
        }
        write_private(self.path, orjson.dumps(envelope, option=orjson.OPT_INDENT_2))

    def _parse(self, raw: bytes) -> dict[str, Any]:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise self._corrupt(f"not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise self._corrupt("not an sfbulk secrets file")
        return data

    def _decrypt(self, envelope: dict[str, Any]) -> dict[str, Any]:
        if self._passphrase is None:
            raise OrgStoreError(
                f"{self.path} is encrypted: set STORAGE_ENCRYPTION_KEY to the key it was "
                "written with"
            )
        try:
            params = envelope["encryption"]
            salt = base64.b64decode(params["salt"])
            nonce = base64.b64decode(params["nonce"])
            sealed = base64.b64decode(envelope["ciphertext"])
            key = self._derive(salt, n=int(params["n"]), r=int(params["r"]), p=int(params["p"]))
            if (int(params["n"]), int(params["r"]), int(params["p"])) == (
                _SCRYPT_N,
                _SCRYPT_R,
                _SCRYPT_P,
            ):
                self._salt = salt
        except (KeyError, TypeError, ValueError) as exc:
            raise self._corrupt(f"bad encryption header ({type(exc).__name__})") from None
        try:
            plain = AESGCM(key).decrypt(nonce, sealed, _AAD)
        except InvalidTag:
            raise OrgStoreError(
                f"cannot decrypt {self.path}: STORAGE_ENCRYPTION_KEY is not the key it was "
                "encrypted with (or the file was altered). Set the right key, or delete the "
                "file and log in again with `sfbulk login`"
            ) from None
        data = orjson.loads(plain)
        if not isinstance(data, dict):
            raise self._corrupt("unexpected content")
        return data

    def _derive(
        self, salt: bytes, *, n: int = _SCRYPT_N, r: int = _SCRYPT_R, p: int = _SCRYPT_P
    ) -> bytes:
        assert self._passphrase is not None
        cache_key = salt + f"{n}/{r}/{p}".encode()
        key = self._keys.get(cache_key)
        if key is None:
            kdf = Scrypt(salt=salt, length=32, n=n, r=r, p=p)
            key = kdf.derive(self._passphrase.encode("utf-8"))
            self._keys[cache_key] = key
        return key

    def _corrupt(self, detail: str) -> OrgStoreError:
        return OrgStoreError(
            f"the secrets file {self.path} is corrupt ({detail}): move it aside and log in "
            "again with `sfbulk login`"
        )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
