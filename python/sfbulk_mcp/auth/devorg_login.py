"""The `devorg` alias: a local org with no set-up.

If a devorg answers at `SFBULK_DEVORG_URL` (default http://127.0.0.1:8787), log in to it with
its default user and app; otherwise run one embedded (data in a temp dir, seeded with sample
data) for as long as the caller needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..salesforce.errors import ConnectionLostError
from .env import DEVORG_CLIENT_ID, session_timeout_from
from .providers import PasswordProvider

log = logging.getLogger("sfbulk_mcp.auth")

DEFAULT_DEVORG_URL = "http://127.0.0.1:8787"
DEVORG_USERNAME = "admin@devorg.local"
DEVORG_PASSWORD = "devorg"  # the documented demo password of every local devorg
DEFAULT_EMBEDDED_SEED = 200
_PROBE_TIMEOUT = 0.5


@dataclass(frozen=True)
class DevOrgLogin:
    """A logged-in devorg: its provider and whether it was started for us."""

    provider: PasswordProvider
    instance_url: str
    embedded: bool


def _provider(url: str, env: Mapping[str, str]) -> PasswordProvider:
    return PasswordProvider(
        login_url=url,
        client_id=DEVORG_CLIENT_ID,
        username=DEVORG_USERNAME,
        password=DEVORG_PASSWORD,
        session_timeout=session_timeout_from(env),
    )


@asynccontextmanager
async def devorg_login(env: Mapping[str, str]) -> AsyncIterator[DevOrgLogin]:
    """Log in to a running devorg, or to an embedded one that lives for this context."""
    url = (env.get("SFBULK_DEVORG_URL") or DEFAULT_DEVORG_URL).rstrip("/")
    if await _listening(url):
        provider = _provider(url, env)
        try:
            token = await provider.token()
        except ConnectionLostError:
            pass
        else:
            yield DevOrgLogin(provider=provider, instance_url=token.instance_url, embedded=False)
            return
    log.info("no devorg answers at %s: starting an embedded one", url)
    async with _embedded_devorg(env) as org_url:
        provider = _provider(org_url, env)
        token = await provider.token()
        yield DevOrgLogin(provider=provider, instance_url=token.instance_url, embedded=True)


async def _listening(url: str) -> bool:
    """True when something accepts connections at `url` (a quick check before logging in)."""
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), _PROBE_TIMEOUT)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


@asynccontextmanager
async def _embedded_devorg(env: Mapping[str, str]) -> AsyncIterator[str]:
    from ..devorg import DevOrg

    seed = int(env.get("SFBULK_DEVORG_SEED") or DEFAULT_EMBEDDED_SEED)
    with tempfile.TemporaryDirectory(prefix="sfbulk-devorg-") as data_dir:
        org: Any = DevOrg(data_dir=Path(data_dir), seed=seed)
        await asyncio.to_thread(org.start)
        try:
            yield str(org.login_url)
        finally:
            await asyncio.to_thread(org.stop)
