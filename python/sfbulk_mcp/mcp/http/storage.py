"""Where HTTP mode keeps OAuth state: in memory, or in Redis shared by several replicas.

Every value is encrypted (Fernet, key from `STORAGE_ENCRYPTION_KEY`) before it is stored, and
every key is a hash, so a Redis dump shows neither tokens nor which tokens exist.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any, Protocol

import anyio
import orjson
from cryptography.fernet import Fernet, InvalidToken


class StorageError(RuntimeError):
    """The storage is misconfigured or unreachable."""


def fernet_for(key: str | None) -> Fernet:
    """A Fernet from a Fernet key, or from any passphrase (hashed to 32 bytes); random if None."""
    if not key:
        return Fernet(Fernet.generate_key())
    try:
        return Fernet(key.encode())
    except ValueError:
        digest = hashlib.sha256(key.encode()).digest()
        return Fernet(base64.urlsafe_b64encode(digest))


def _key(kind: str, name: str) -> str:
    return f"sfbulk-mcp:{kind}:" + hashlib.sha256(name.encode()).hexdigest()


class Storage(Protocol):
    """An expiring, encrypted key → JSON-object store."""

    async def put(self, kind: str, name: str, value: dict[str, Any], ttl: float | None) -> None: ...

    async def get(self, kind: str, name: str) -> dict[str, Any] | None: ...

    async def take(self, kind: str, name: str) -> dict[str, Any] | None:
        """Get and delete in one step (one-time codes)."""
        ...

    async def delete(self, kind: str, name: str) -> None: ...

    async def aclose(self) -> None: ...


class _Sealed:
    def __init__(self, fernet: Fernet) -> None:
        self._fernet = fernet

    def seal(self, value: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(orjson.dumps(value))

    def open(self, blob: bytes | str | None) -> dict[str, Any] | None:
        if blob is None:
            return None
        if isinstance(blob, str):
            blob = blob.encode()
        try:
            data: dict[str, Any] = orjson.loads(self._fernet.decrypt(blob))
        except InvalidToken:
            return None  # written with another key: as good as absent
        return data


class MemoryStorage(_Sealed):
    """One process's storage (a single replica)."""

    def __init__(self, encryption_key: str | None = None) -> None:
        super().__init__(fernet_for(encryption_key))
        self._items: dict[str, tuple[bytes, float | None]] = {}
        self._lock = anyio.Lock()

    async def put(self, kind: str, name: str, value: dict[str, Any], ttl: float | None) -> None:
        expires = time.monotonic() + ttl if ttl else None
        async with self._lock:
            self._items[_key(kind, name)] = (self.seal(value), expires)

    def _live(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        blob, expires = item
        if expires is not None and time.monotonic() > expires:
            del self._items[key]
            return None
        return blob

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        async with self._lock:
            return self.open(self._live(_key(kind, name)))

    async def take(self, kind: str, name: str) -> dict[str, Any] | None:
        async with self._lock:
            key = _key(kind, name)
            blob = self._live(key)
            self._items.pop(key, None)
            return self.open(blob)

    async def delete(self, kind: str, name: str) -> None:
        async with self._lock:
            self._items.pop(_key(kind, name), None)

    async def aclose(self) -> None:
        self._items.clear()


class RedisStorage(_Sealed):
    """Storage in Redis, shared by every replica that has the same encryption key."""

    def __init__(self, url: str, encryption_key: str | None) -> None:
        if not encryption_key:
            raise StorageError(
                "REDIS_URL needs STORAGE_ENCRYPTION_KEY: tokens are stored encrypted, and every "
                "replica must use the same key"
            )
        super().__init__(fernet_for(encryption_key))
        import redis.asyncio as redis_async

        self._redis = redis_async.Redis.from_url(url)

    async def put(self, kind: str, name: str, value: dict[str, Any], ttl: float | None) -> None:
        await self._redis.set(
            _key(kind, name), self.seal(value), px=int(ttl * 1000) if ttl else None
        )

    async def get(self, kind: str, name: str) -> dict[str, Any] | None:
        blob = await self._redis.get(_key(kind, name))
        return self.open(blob)

    async def take(self, kind: str, name: str) -> dict[str, Any] | None:
        blob = await self._redis.getdel(_key(kind, name))
        return self.open(blob)

    async def delete(self, kind: str, name: str) -> None:
        await self._redis.delete(_key(kind, name))

    async def aclose(self) -> None:
        await self._redis.aclose()


def storage_from_env(redis_url: str | None, encryption_key: str | None) -> Storage:
    """Redis when `REDIS_URL` is set, else memory."""
    if redis_url:
        return RedisStorage(redis_url, encryption_key)
    return MemoryStorage(encryption_key)
