"""The org store: named aliases, the default org, and their secrets.

Metadata (alias, username, instance, login URL, auth method, client id, token expiry
estimate, which org is the default) lives in `orgs.json` under the config directory; secrets
live in a `SecretVault` (the OS keyring when it works, else `secrets.json`, encrypted when
`STORAGE_ENCRYPTION_KEY` is set). Both files are written atomically with mode 0600, and every
read-modify-write holds a lock so that two processes renewing tokens cannot lose an update.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import orjson
import platformdirs

from .errors import OrgNotFoundError, OrgStoreError
from .files import locked, read_private, write_private
from .oauth import TokenGrant
from .vault import FileVault, KeyringVault, SecretVault, keyring_usable

_FORMAT = "sfbulk-orgs"
APP_NAME = "sfbulk-mcp"


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """`SFBULK_CONFIG_DIR`, or the user's config directory for sfbulk-mcp."""
    env = os.environ if env is None else env
    # A partial environment handed in by a caller still honours the process's override.
    override = env.get("SFBULK_CONFIG_DIR") or os.environ.get("SFBULK_CONFIG_DIR")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


@dataclass(frozen=True)
class OrgRecord:
    """What is known about one stored org, without its secrets."""

    alias: str
    instance_url: str
    login_url: str
    auth_method: str  # web | jwt | client_credentials | password | access_token
    username: str | None = None
    client_id: str | None = None
    user_id: str | None = None
    org_id: str | None = None
    issued_at: float | None = None
    expires_at: float | None = None  # estimate: issued_at + session timeout
    session_timeout: float | None = None
    jwt_key_file: str | None = None
    secrets_backend: str = "file"
    created_at: float = field(default_factory=time.time)
    is_default: bool = False  # derived from the store's default, not saved per record

    def to_json(self) -> dict[str, Any]:
        """The record as saved (no secrets are ever part of it)."""
        data = asdict(self)
        data.pop("is_default")
        return data

    @classmethod
    def from_json(cls, alias: str, data: Mapping[str, Any], *, is_default: bool) -> OrgRecord:
        """A record from its saved form; unknown keys (from newer versions) are ignored."""
        known = {f.name for f in fields(cls)} - {"alias", "is_default"}
        values = {k: v for k, v in data.items() if k in known}
        return cls(alias=alias, is_default=is_default, **values)


@dataclass(frozen=True)
class OrgSecrets:
    """The secrets of one org. The repr shows none of them."""

    access_token: str | None = field(default=None, repr=False)
    refresh_token: str | None = field(default=None, repr=False)
    client_secret: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)

    def to_json(self) -> dict[str, str]:
        """Only the secrets that are set."""
        return {k: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_json(cls, data: Mapping[str, str] | None) -> OrgSecrets:
        """Secrets from their stored form."""
        if not data:
            return cls()
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def default_vault(directory: Path, env: Mapping[str, str]) -> SecretVault:
    """The keyring when usable (or asked for with SFBULK_SECRETS=keyring), else the file."""
    choice = (env.get("SFBULK_SECRETS") or "auto").strip().lower()
    if choice not in {"auto", "keyring", "file"}:
        raise OrgStoreError(f"SFBULK_SECRETS must be auto, keyring or file, not {choice!r}")
    if choice == "keyring" or (choice == "auto" and keyring_usable()):
        return KeyringVault()
    return FileVault(directory / "secrets.json", encryption_key=env.get("STORAGE_ENCRYPTION_KEY"))


def _valid_alias(alias: str) -> str:
    cleaned = alias.strip()
    if not cleaned or any(c.isspace() for c in cleaned) or "/" in cleaned:
        raise OrgStoreError(f"{alias!r} is not a valid alias: use letters, digits, - _ or .")
    return cleaned


class OrgStore:
    """Stored orgs of one user (or one `SFBULK_CONFIG_DIR`)."""

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        vault: SecretVault | None = None,
    ) -> None:
        env = os.environ if env is None else env
        self.directory = Path(directory) if directory is not None else config_dir(env)
        self.path = self.directory / "orgs.json"
        self._lock_path = self.directory / ".orgs.lock"
        self._env = env
        self._vault = vault
        self._file_vault = FileVault(
            self.directory / "secrets.json", encryption_key=env.get("STORAGE_ENCRYPTION_KEY")
        )

    @property
    def vault(self) -> SecretVault:
        """The vault new secrets go to."""
        if self._vault is None:
            self._vault = default_vault(self.directory, self._env)
        return self._vault

    def _vault_named(self, name: str) -> SecretVault:
        if name == self.vault.name:
            return self.vault
        if name == "keyring":
            return KeyringVault()
        return self._file_vault

    # -- reading -----------------------------------------------------------------------------

    def _read(self) -> dict[str, Any]:
        raw = read_private(self.path)
        if raw is None:
            return {"format": _FORMAT, "version": 1, "default": None, "orgs": {}}
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise self._corrupt(f"not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise self._corrupt("not an sfbulk org store")
        if not isinstance(data.get("orgs"), dict):
            raise self._corrupt("no orgs section")
        return data

    def _corrupt(self, detail: str) -> OrgStoreError:
        return OrgStoreError(
            f"the org store {self.path} is corrupt ({detail}): move it aside "
            f"(`mv {self.path} {self.path}.bad`) and log in again with `sfbulk login`"
        )

    def _records(self, data: Mapping[str, Any]) -> dict[str, OrgRecord]:
        default = data.get("default")
        records: dict[str, OrgRecord] = {}
        for alias, entry in data["orgs"].items():
            if not isinstance(entry, dict):
                raise self._corrupt(f"entry {alias!r} is not an object")
            try:
                records[alias] = OrgRecord.from_json(alias, entry, is_default=alias == default)
            except TypeError as exc:
                raise self._corrupt(f"entry {alias!r}: {exc}") from None
        return records

    def list_orgs(self) -> list[OrgRecord]:
        """Every stored org, sorted by alias."""
        records = self._records(self._read())
        return [records[a] for a in sorted(records)]

    def find(self, alias: str) -> OrgRecord | None:
        """The org stored under `alias`, or None."""
        return self._records(self._read()).get(alias)

    def get(self, alias: str) -> OrgRecord:
        """The org stored under `alias`; a clear error listing the known aliases otherwise."""
        records = self._records(self._read())
        record = records.get(alias)
        if record is None:
            raise OrgNotFoundError(alias, sorted(records))
        return record

    def default_alias(self) -> str | None:
        """The alias of the default org, if one is set."""
        data = self._read()
        default = data.get("default")
        return default if isinstance(default, str) and default in data["orgs"] else None

    def secrets(self, alias: str) -> OrgSecrets:
        """The secrets of `alias` (empty when its vault has none)."""
        record = self.get(alias)
        return OrgSecrets.from_json(self._vault_named(record.secrets_backend).get(alias))

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[dict[str, Any]]:
        with locked(self._lock_path):
            data = self._read()
            yield data
            write_private(self.path, orjson.dumps(data, option=orjson.OPT_INDENT_2))

    def save(
        self, record: OrgRecord, secrets: OrgSecrets, *, make_default: bool = False
    ) -> OrgRecord:
        """Store (or replace) an org. The first org stored becomes the default."""
        alias = _valid_alias(record.alias)
        vault = self.vault
        with self._transaction() as data:
            previous = data["orgs"].get(alias)
            if isinstance(previous, dict) and previous.get("secrets_backend") not in (
                None,
                vault.name,
            ):
                self._vault_named(str(previous["secrets_backend"])).delete(alias)
            vault.put(alias, secrets.to_json())
            stored = replace(record, alias=alias, secrets_backend=vault.name, is_default=False)
            data["orgs"][alias] = stored.to_json()
            if make_default or data.get("default") not in data["orgs"]:
                data["default"] = alias
            return replace(stored, is_default=data["default"] == alias)

    def update_token(self, alias: str, grant: TokenGrant) -> None:
        """Keep a renewed access token, and a rotated refresh token, right away."""
        with self._transaction() as data:
            entry = data["orgs"].get(alias)
            if not isinstance(entry, dict):
                raise OrgNotFoundError(alias, sorted(data["orgs"]))
            vault = self._vault_named(str(entry.get("secrets_backend") or "file"))
            current = OrgSecrets.from_json(vault.get(alias))
            updated = replace(
                current,
                access_token=grant.token.access_token,
                refresh_token=grant.refresh_token or current.refresh_token,
            )
            vault.put(alias, updated.to_json())
            entry["issued_at"] = grant.token.issued_at
            entry["expires_at"] = grant.token.expires_at
            entry["instance_url"] = grant.token.instance_url

    def grant_saver(self, alias: str) -> Callable[[TokenGrant], None]:
        """A callback for providers: persist each new grant of `alias`."""

        def save(grant: TokenGrant) -> None:
            self.update_token(alias, grant)

        return save

    def set_default(self, alias: str) -> None:
        """Make `alias` the default org."""
        with self._transaction() as data:
            if alias not in data["orgs"]:
                raise OrgNotFoundError(alias, sorted(data["orgs"]))
            data["default"] = alias

    def remove(self, alias: str) -> OrgRecord:
        """Forget an org and its secrets; returns what was removed."""
        with self._transaction() as data:
            records = self._records(data)
            record = records.get(alias)
            if record is None:
                raise OrgNotFoundError(alias, sorted(records))
            self._vault_named(record.secrets_backend).delete(alias)
            del data["orgs"][alias]
            if data.get("default") == alias:
                data["default"] = None
            return record
