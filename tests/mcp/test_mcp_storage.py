"""OAuth state storage: encrypted at rest, expiring, and shared by replicas through Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from sfbulk_mcp.mcp.http.storage import MemoryStorage, RedisStorage, StorageError

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            pytest.skip("redis-server did not start")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_memory_storage_expires_and_takes_once() -> None:
    store = MemoryStorage("a passphrase")
    await store.put("code", "abc", {"v": 1}, ttl=0.2)
    assert await store.get("code", "abc") == {"v": 1}
    assert await store.take("code", "abc") == {"v": 1}
    assert await store.take("code", "abc") is None
    await store.put("code", "late", {"v": 2}, ttl=0.05)
    await anyio.sleep(0.1)
    assert await store.get("code", "late") is None


async def test_redis_storage_is_encrypted_and_shared_between_replicas(redis_url: str) -> None:
    import redis.asyncio as redis_async

    key = "shared-secret-key"
    first, second = RedisStorage(redis_url, key), RedisStorage(redis_url, key)
    try:
        await first.put("session", "sfm_at_token123", {"access_token": "00Dxx!SECRET"}, ttl=30)
        assert await second.get("session", "sfm_at_token123") == {"access_token": "00Dxx!SECRET"}
        raw = redis_async.Redis.from_url(redis_url)
        try:
            keys = [k.decode() for k in await raw.keys("*")]
            dumped = b"".join([await raw.get(k) or b"" for k in keys])
        finally:
            await raw.aclose()
        assert keys and all("token123" not in k for k in keys)
        assert b"SECRET" not in dumped
        # A replica with another key sees nothing rather than garbage.
        stranger = RedisStorage(redis_url, "another key")
        try:
            assert await stranger.get("session", "sfm_at_token123") is None
        finally:
            await stranger.aclose()
        assert await second.take("session", "sfm_at_token123") is not None
        assert await first.get("session", "sfm_at_token123") is None
    finally:
        await first.aclose()
        await second.aclose()


def test_redis_storage_refuses_to_run_without_an_encryption_key() -> None:
    with pytest.raises(StorageError, match="STORAGE_ENCRYPTION_KEY"):
        RedisStorage("redis://127.0.0.1:1/0", None)
