"""sfbulk-mcp: fast, safe Salesforce data for AI agents and data pipelines."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from ._memory import prepare_polars_allocator

# Before anything imports Polars: its allocator reads its settings when it starts.
prepare_polars_allocator()

try:
    __version__ = version("sfbulk-mcp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = ["__version__", "connect", "connect_async"]


def __getattr__(name: str) -> object:
    # `connect` pulls in polars and the client: load them only when asked for.
    if name in ("connect", "connect_async", "Org", "AsyncOrg"):
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'sfbulk_mcp' has no attribute {name!r}")
