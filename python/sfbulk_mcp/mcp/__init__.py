"""The MCP server: Salesforce tools sized for a model's context.

    from sfbulk_mcp.mcp import ServerConfig, SingleOrg, build_server

    server, app = build_server(ServerConfig(read_only=True), SingleOrg(client))

`sfbulk mcp` runs it on stdio or streamable HTTP (see `run.py` and `http/serve.py`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import DEFAULT_TOOLSETS, TOOLSETS, ServerConfig

if TYPE_CHECKING:
    from .orgs import OrgAccess, PerUserOrgs, SingleOrg
    from .server import SalesforceMCPServer, build_server

# Imported on first use: the MCP SDK takes most of a second to load, and `sfbulk --help`
# reads `config` through this package.
_LAZY = {
    "OrgAccess": ".orgs",
    "PerUserOrgs": ".orgs",
    "SingleOrg": ".orgs",
    "SalesforceMCPServer": ".server",
    "build_server": ".server",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value

__all__ = [
    "DEFAULT_TOOLSETS",
    "TOOLSETS",
    "OrgAccess",
    "PerUserOrgs",
    "SalesforceMCPServer",
    "ServerConfig",
    "SingleOrg",
    "build_server",
]
