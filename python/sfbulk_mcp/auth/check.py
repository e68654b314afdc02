"""Is a stored org still usable? Ask Salesforce who we are, renewing the session if needed."""

from __future__ import annotations

from dataclasses import dataclass

from ..salesforce.errors import AuthError, SalesforceError
from .errors import OrgStoreError
from .oauth import fetch_userinfo
from .resolve import open_org
from .store import OrgStore


@dataclass(frozen=True)
class OrgCheck:
    """The outcome of checking one org."""

    alias: str
    connected: bool
    detail: str


async def check_org(store: OrgStore, alias: str) -> OrgCheck:
    """Call userinfo with the org's token (renewing once on a 401); never raises."""
    try:
        async with open_org(alias, store=store, env={}) as org:
            token = await org.token()
            try:
                info = await fetch_userinfo(token.instance_url, token.access_token)
            except AuthError as exc:
                if exc.status != 401 and exc.error_code != "Bad_OAuth_Token":
                    raise
                token = await org.refresh(token)
                info = await fetch_userinfo(token.instance_url, token.access_token)
    except (SalesforceError, OrgStoreError) as exc:
        return OrgCheck(alias=alias, connected=False, detail=str(exc))
    who = info.get("preferred_username") or info.get("user_id") or "an unknown user"
    return OrgCheck(alias=alias, connected=True, detail=f"connected as {who}")
