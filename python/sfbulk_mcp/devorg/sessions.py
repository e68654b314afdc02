"""Users' passwords, connected apps and OAuth tokens of a devorg, in their own SQLite file.

Tokens are opaque random strings; only their SHA-256 digests are stored, so a copied data
directory does not leak live sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .ids import to_18

DEFAULT_USERNAME = "admin@devorg.local"
DEFAULT_PASSWORD = "devorg"
DEFAULT_CLIENT_ID = "sfbulk-devorg"
# Loopback redirect URIs on any port, as native apps use (RFC 8252).
DEFAULT_REDIRECT_URIS = ("http://localhost:*/*", "http://127.0.0.1:*/*")
DEFAULT_SCOPES = "api refresh_token"
AUTH_CODE_TTL_SECONDS = 900.0
PURGE_AFTER_SECONDS = 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY COLLATE NOCASE,
    user_id TEXT NOT NULL,
    salt TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    security_token TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS apps (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    require_pkce INTEGER NOT NULL,
    certificate_pem TEXT,
    rotate_refresh_tokens INTEGER NOT NULL,
    run_as_username TEXT,
    scopes TEXT NOT NULL,
    refresh_token_ttl REAL
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL,              -- access | refresh | code
    username TEXT NOT NULL,
    user_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    issued_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    parent_hash TEXT,                -- access tokens: the refresh token they came from
    extra TEXT                       -- codes: redirect_uri and PKCE challenge (JSON)
);
CREATE INDEX IF NOT EXISTS tokens_parent ON tokens(parent_hash);
"""


def token_digest(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _password_digest(password: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), 20_000).hex()


@dataclass(frozen=True)
class Session:
    """Who is calling: set on `request.state.session` for authenticated API requests."""

    user_id: str
    username: str
    org_id: str
    client_id: str
    scopes: str
    issued_at: float
    expires_at: float
    token_hash: str = field(repr=False)


@dataclass(frozen=True)
class ConnectedApp:
    """A registered OAuth client."""

    client_id: str
    name: str
    secret_hash: str | None
    redirect_uris: tuple[str, ...]
    require_pkce: bool
    certificate_pem: str | None
    rotate_refresh_tokens: bool
    run_as_username: str | None
    scopes: str
    refresh_token_ttl: float | None

    @property
    def is_public(self) -> bool:
        return self.secret_hash is None

    def check_secret(self, secret: str | None) -> bool:
        """True when `secret` is this app's secret (public apps have none to check)."""
        if self.secret_hash is None:
            return True
        return secret is not None and hmac.compare_digest(token_digest(secret), self.secret_hash)


@dataclass(frozen=True)
class IssuedToken:
    """A token and what it grants (codes, access and refresh tokens alike)."""

    kind: str
    username: str
    user_id: str
    client_id: str
    scopes: str
    issued_at: float
    expires_at: float
    token_hash: str
    parent_hash: str | None
    extra: dict[str, Any]


class AuthStore:
    """Thread-safe persistence of credentials and tokens (`auth.sqlite3` in the data dir)."""

    def __init__(self, path: Path, *, access_ttl: float, refresh_ttl: float,
                 expired_before: Callable[[], float] = lambda: 0.0) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._access_ttl = access_ttl
        self._refresh_ttl = refresh_ttl
        self._expired_before = expired_before
        self._cache: dict[str, Session] = {}
        self._issued = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- meta -----------------------------------------------------------------------------
    def meta(self, key: str, default: Callable[[], str]) -> str:
        """A persistent org-wide value, created with `default()` the first time."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            if row is not None:
                return str(row[0])
            value = default()
            self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))
            return value

    def org_id(self) -> str:
        """This org's Id (00D…), fixed for the life of the data directory."""
        return self.meta("org_id", lambda: to_18("00D" + "".join(
            secrets.choice("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
            for _ in range(12))))

    def signing_key(self) -> bytes:
        """The org's HMAC key for token signatures when the client has no secret."""
        return bytes.fromhex(self.meta("signing_key", lambda: secrets.token_hex(32)))

    # -- users ----------------------------------------------------------------------------
    def set_user(self, username: str, user_id: str, password: str, *,
                 security_token: str = "", active: bool = True) -> None:
        """Create or replace the credentials of `username`."""
        salt = secrets.token_hex(16)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO users (username, user_id, salt, password_hash, "
                "security_token, active) VALUES (?, ?, ?, ?, ?, ?)",
                (username, user_id, salt, _password_digest(password, salt), security_token,
                 int(active)))

    def user(self, username: str) -> tuple[str, str] | None:
        """(user_id, username as registered) of an active user, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT user_id, username FROM users WHERE username = ? AND active = 1",
                (username,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def user_by_id(self, user_id: str) -> tuple[str, str] | None:
        """(user_id, username) for a user id, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT user_id, username FROM users WHERE user_id = ?", (user_id,)).fetchone()
        return (str(row[0]), str(row[1])) if row else None

    def check_password(self, username: str, password: str) -> tuple[str, str] | None:
        """(user_id, username) when `password` (optionally + security token) is right."""
        with self._lock:
            row = self._db.execute(
                "SELECT user_id, username, salt, password_hash, security_token FROM users "
                "WHERE username = ? AND active = 1", (username,)).fetchone()
        if row is None:
            return None
        user_id, name, salt, digest, token = row
        candidates = [password]
        # The API accepts the password with the security token appended; from a trusted
        # network (loopback) the bare password is enough, as with Trusted IP Ranges.
        if token and password.endswith(token):
            candidates.append(password[: -len(token)])
        for candidate in candidates:
            if hmac.compare_digest(_password_digest(candidate, salt), digest):
                return str(user_id), str(name)
        return None

    # -- connected apps -------------------------------------------------------------------
    def set_app(self, client_id: str, *, name: str | None = None, secret: str | None = None,
                redirect_uris: tuple[str, ...] | list[str] = DEFAULT_REDIRECT_URIS,
                require_pkce: bool = False, certificate_pem: str | None = None,
                rotate_refresh_tokens: bool = False, run_as_username: str | None = None,
                scopes: str = DEFAULT_SCOPES, refresh_token_ttl: float | None = None) -> None:
        """Register (or replace) a connected app."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO apps (client_id, name, secret_hash, redirect_uris, "
                "require_pkce, certificate_pem, rotate_refresh_tokens, run_as_username, scopes, "
                "refresh_token_ttl) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (client_id, name or client_id, token_digest(secret) if secret else None,
                 json.dumps(list(redirect_uris)), int(require_pkce), certificate_pem,
                 int(rotate_refresh_tokens), run_as_username, scopes, refresh_token_ttl))

    def app(self, client_id: str) -> ConnectedApp | None:
        """A registered app, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT client_id, name, secret_hash, redirect_uris, require_pkce, "
                "certificate_pem, rotate_refresh_tokens, run_as_username, scopes, "
                "refresh_token_ttl FROM apps WHERE client_id = ?", (client_id,)).fetchone()
        if row is None:
            return None
        return ConnectedApp(row[0], row[1], row[2], tuple(json.loads(row[3])), bool(row[4]),
                            row[5], bool(row[6]), row[7], row[8], row[9])

    # -- tokens ---------------------------------------------------------------------------
    def _insert(self, kind: str, token: str, username: str, user_id: str, client_id: str,
                scopes: str, ttl: float, parent_hash: str | None = None,
                extra: dict[str, Any] | None = None) -> IssuedToken:
        now = time.time()
        issued = IssuedToken(kind, username, user_id, client_id, scopes, now, now + ttl,
                             token_digest(token), parent_hash, extra or {})
        with self._lock:
            self._issued += 1
            if self._issued % 1000 == 0:
                # A long-running org would otherwise keep every token it ever issued.
                self._db.execute("DELETE FROM tokens WHERE expires_at < ?",
                                 (now - PURGE_AFTER_SECONDS,))
            self._db.execute(
                "INSERT INTO tokens (token_hash, kind, username, user_id, client_id, scopes, "
                "issued_at, expires_at, parent_hash, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (issued.token_hash, kind, username, user_id, client_id, scopes, now, now + ttl,
                 parent_hash, json.dumps(extra) if extra else None))
        return issued

    def issue_access_token(self, org_id: str, username: str, user_id: str, client_id: str,
                           scopes: str, *, parent_hash: str | None = None,
                           ttl: float | None = None) -> tuple[str, IssuedToken]:
        """A new session id, shaped like Salesforce's (`<org id 15>!<opaque>`)."""
        token = f"{org_id[:15]}!{secrets.token_urlsafe(72)}"
        issued = self._insert("access", token, username, user_id, client_id, scopes,
                              self._access_ttl if ttl is None else ttl, parent_hash)
        return token, issued

    def issue_refresh_token(self, username: str, user_id: str, client_id: str, scopes: str,
                            *, ttl: float | None = None) -> tuple[str, IssuedToken]:
        """A new refresh token."""
        token = "5Aep861" + secrets.token_urlsafe(60)
        issued = self._insert("refresh", token, username, user_id, client_id, scopes,
                              self._refresh_ttl if ttl is None else ttl)
        return token, issued

    def issue_code(self, username: str, user_id: str, client_id: str, scopes: str,
                   extra: dict[str, Any]) -> str:
        """A one-time authorization code."""
        token = "aPrx" + secrets.token_urlsafe(48)
        self._insert("code", token, username, user_id, client_id, scopes,
                     AUTH_CODE_TTL_SECONDS, extra=extra)
        return token

    def _lookup(self, token: str, kind: str) -> IssuedToken | None:
        with self._lock:
            row = self._db.execute(
                "SELECT kind, username, user_id, client_id, scopes, issued_at, expires_at, "
                "token_hash, parent_hash, extra FROM tokens "
                "WHERE token_hash = ? AND kind = ? AND revoked = 0",
                (token_digest(token), kind)).fetchone()
        if row is None:
            return None
        return IssuedToken(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7],
                           row[8], json.loads(row[9]) if row[9] else {})

    def session(self, token: str, org_id: str) -> Session | None:
        """The live session an access token stands for, or None (unknown/expired/revoked)."""
        now = time.time()
        digest = token_digest(token)
        session = self._cache.get(digest)
        if session is None:
            issued = self._lookup(token, "access")
            if issued is None:
                return None
            session = Session(issued.user_id, issued.username, org_id, issued.client_id,
                              issued.scopes, issued.issued_at, issued.expires_at, digest)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[digest] = session
        if session.expires_at <= now or session.issued_at <= self._expired_before():
            return None
        return session

    def take_code(self, code: str) -> IssuedToken | None:
        """Consume an authorization code (valid once, for a few minutes)."""
        issued = self._lookup(code, "code")
        if issued is None:
            return None
        self._revoke_hash(issued.token_hash)
        return issued if issued.expires_at > time.time() else None

    def refresh_token(self, token: str) -> IssuedToken | None:
        """A live refresh token's grant, or None."""
        issued = self._lookup(token, "refresh")
        if issued is None or issued.expires_at <= time.time():
            return None
        return issued

    def _revoke_hash(self, digest: str) -> None:
        with self._lock:
            self._db.execute("UPDATE tokens SET revoked = 1 WHERE token_hash = ?", (digest,))
            self._cache.pop(digest, None)

    def revoke(self, token: str) -> bool:
        """Revoke an access or refresh token; revoking a refresh token ends its sessions too."""
        digest = token_digest(token)
        with self._lock:
            row = self._db.execute(
                "SELECT kind FROM tokens WHERE token_hash = ? AND revoked = 0 "
                "AND kind IN ('access', 'refresh')", (digest,)).fetchone()
            if row is None:
                return False
            self._revoke_hash(digest)
            if row[0] == "refresh":
                children = self._db.execute(
                    "SELECT token_hash FROM tokens WHERE parent_hash = ?", (digest,)).fetchall()
                for (child,) in children:
                    self._revoke_hash(child)
        return True

    def revoke_refresh_hash(self, digest: str) -> None:
        """Retire a refresh token that has been rotated (its access tokens stay valid)."""
        self._revoke_hash(digest)

    def expire_all_sessions(self) -> None:
        """Mark every access token as expired now."""
        now = time.time()
        with self._lock:
            self._db.execute(
                "UPDATE tokens SET expires_at = ? WHERE kind = 'access' AND expires_at > ?",
                (now, now))
            self._cache.clear()
