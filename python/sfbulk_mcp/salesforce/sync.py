"""`SyncSalesforceClient`: the async client for scripts, on a private event-loop thread.

Every method of `SalesforceClient` is available with the same name and arguments: coroutines
return their result, async iterators become plain iterators, and async context managers
(result streams) become `with` blocks whose objects are wrapped the same way.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Self, TypeVar

from .client import SalesforceClient
from .credentials import TokenProvider

T = TypeVar("T")


class _LoopThread:
    """An event loop running forever on a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="sfbulk-salesforce-sync", daemon=True
        )
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("a sync client method was called from its own event loop")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class _SyncProxy:
    """Wraps an object living on the loop thread, turning async results into sync ones."""

    def __init__(self, target: Any, runner: _LoopThread) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_runner", runner)

    def __getattr__(self, name: str) -> Any:
        # `read`/`iter_bytes` reach `aread`/`aiter_bytes`, the names scripts expect.
        if not hasattr(self._target, name) and hasattr(self._target, "a" + name):
            name = "a" + name
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            return _to_sync(value(*args, **kwargs), self._runner)

        call.__name__ = name
        call.__doc__ = getattr(value, "__doc__", None)
        return call

    def __repr__(self) -> str:
        return f"<sync {self._target!r}>"


def _to_sync(result: Any, runner: _LoopThread) -> Any:
    if asyncio.iscoroutine(result):
        return runner.run(result)
    if hasattr(result, "__anext__"):
        return _iterate(result, runner)
    if isinstance(result, AbstractAsyncContextManager) or hasattr(result, "__aenter__"):
        return _SyncContext(result, runner)
    return result


def _iterate(agen: Any, runner: _LoopThread) -> Iterator[Any]:
    async def step() -> tuple[bool, Any]:
        try:
            return True, await agen.__anext__()
        except StopAsyncIteration:
            return False, None

    try:
        while True:
            more, item = runner.run(step())
            if not more:
                return
            yield _wrap(item, runner)
    finally:
        closer = getattr(agen, "aclose", None)
        if closer is not None:
            runner.run(closer())


def _wrap(item: Any, runner: _LoopThread) -> Any:
    # Plain data passes through; objects with async methods get the same treatment.
    if isinstance(item, dict | list | str | bytes | int | float | tuple) or item is None:
        return item
    if any(asyncio.iscoroutinefunction(getattr(item, n, None)) for n in ("aread", "aclose")):
        return _SyncProxy(item, runner)
    return item


class _SyncContext:
    """A sync `with` over an async context manager running on the loop thread."""

    def __init__(self, manager: Any, runner: _LoopThread) -> None:
        self._manager = manager
        self._runner = runner

    def __enter__(self) -> Any:
        return _wrap(self._runner.run(self._manager.__aenter__()), self._runner)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        return bool(self._runner.run(self._manager.__aexit__(exc_type, exc, tb)))


class SyncSalesforceClient(_SyncProxy):
    """Blocking twin of `SalesforceClient`, with the same methods and arguments.

    >>> with SyncSalesforceClient(provider) as sf:
    ...     sf.query("SELECT Id FROM Account")["records"]
    """

    def __init__(self, provider: TokenProvider, **kwargs: Any) -> None:
        runner = _LoopThread()

        async def build() -> SalesforceClient:
            return SalesforceClient(provider, **kwargs)

        super().__init__(runner.run(build()), runner)

    @property
    def async_client(self) -> SalesforceClient:
        """The underlying async client (use it only from the client's own loop)."""
        client: SalesforceClient = self._target
        return client

    def close(self) -> None:
        """Close the connection pool and stop the loop thread."""
        runner: _LoopThread = self._runner
        if not runner.loop.is_closed():
            runner.run(self._target.aclose())
            runner.stop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
