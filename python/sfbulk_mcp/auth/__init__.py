"""OAuth flows and the org store.

- `open_org(alias=None)` (`auth.resolve`): the one entry point every command and the MCP
  server use to get a `TokenProvider` for `--org ALIAS`, the default org, the SALESFORCE_*
  environment variables, or the zero-setup `devorg`.
- Flows (`auth.providers`, `auth.webflow`): refresh token, JWT bearer, client credentials,
  username + password, and the browser login with PKCE on a loopback redirect.
- `OrgStore` (`auth.store`): named orgs, the default org, secrets in the OS keyring or a
  private (optionally encrypted) file.

Names are loaded on first use, so importing `sfbulk_mcp.auth.errors` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .errors import (
        CallbackError,
        LoginRequiredError,
        LoginUrlError,
        NoCredentialsError,
        OrgNotFoundError,
        OrgStoreError,
    )
    from .oauth import TokenGrant
    from .providers import (
        ClientCredentialsProvider,
        JwtBearerProvider,
        PasswordProvider,
        RefreshTokenProvider,
        RenewingTokenProvider,
    )
    from .resolve import ConnectedOrg, open_org
    from .store import OrgRecord, OrgSecrets, OrgStore
    from .webflow import WebServerFlow

_WHERE = {
    "CallbackError": "errors",
    "LoginRequiredError": "errors",
    "LoginUrlError": "errors",
    "NoCredentialsError": "errors",
    "OrgNotFoundError": "errors",
    "OrgStoreError": "errors",
    "TokenGrant": "oauth",
    "ClientCredentialsProvider": "providers",
    "JwtBearerProvider": "providers",
    "PasswordProvider": "providers",
    "RefreshTokenProvider": "providers",
    "RenewingTokenProvider": "providers",
    "ConnectedOrg": "resolve",
    "open_org": "resolve",
    "OrgRecord": "store",
    "OrgSecrets": "store",
    "OrgStore": "store",
    "WebServerFlow": "webflow",
}

__all__ = [
    "CallbackError",
    "ClientCredentialsProvider",
    "ConnectedOrg",
    "JwtBearerProvider",
    "LoginRequiredError",
    "LoginUrlError",
    "NoCredentialsError",
    "OrgNotFoundError",
    "OrgRecord",
    "OrgSecrets",
    "OrgStore",
    "OrgStoreError",
    "PasswordProvider",
    "RefreshTokenProvider",
    "RenewingTokenProvider",
    "TokenGrant",
    "WebServerFlow",
    "open_org",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
