"""The MCP server: Salesforce tools sized for a model's context.

    from sfbulk_mcp.mcp import ServerConfig, SingleOrg, build_server

    server, app = build_server(ServerConfig(read_only=True), SingleOrg(client))

`sfbulk mcp` runs it on stdio or streamable HTTP (see `run.py` and `http/serve.py`).
"""

from __future__ import annotations

from .config import DEFAULT_TOOLSETS, TOOLSETS, ServerConfig
from .orgs import OrgAccess, PerUserOrgs, SingleOrg
from .server import SalesforceMCPServer, build_server

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
