"""The four tool hints, spelled once per kind of tool."""

from __future__ import annotations

from mcp_types import ToolAnnotations


def read(title: str) -> ToolAnnotations:
    """Reads Salesforce, changes nothing."""
    return ToolAnnotations(
        title=title,
        read_only_hint=True,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=True,
    )


def write(title: str, *, idempotent: bool) -> ToolAnnotations:
    """Adds or changes records; never removes any."""
    return ToolAnnotations(
        title=title,
        read_only_hint=False,
        destructive_hint=False,
        idempotent_hint=idempotent,
        open_world_hint=True,
    )


def destructive(title: str, *, idempotent: bool) -> ToolAnnotations:
    """May remove data or do anything else: needs confirmation."""
    return ToolAnnotations(
        title=title,
        read_only_hint=False,
        destructive_hint=True,
        idempotent_hint=idempotent,
        open_world_hint=True,
    )


def local(title: str, *, read_only: bool = True) -> ToolAnnotations:
    """Works on local state (job handles, caches) next to Salesforce reads."""
    return ToolAnnotations(
        title=title,
        read_only_hint=read_only,
        destructive_hint=False,
        idempotent_hint=True,
        open_world_hint=True,
    )
