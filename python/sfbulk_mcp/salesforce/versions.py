"""API versions: normalising what users type, and picking the org's newest."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import ApiVersionError

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?$")


def normalize_version(version: str | float) -> str:
    """`"62"`, `62`, `"v62.0"` → `"62.0"`; raises ValueError on anything else."""
    text = str(version).strip()
    match = _VERSION.match(text)
    if not match:
        raise ValueError(f"not a Salesforce API version: {version!r} (expected e.g. '62.0')")
    return f"{int(match[1])}.{int(match[2] or 0)}"


def version_key(version: str) -> tuple[int, int]:
    """Sort key so that "9.0" < "62.0"."""
    major, _, minor = normalize_version(version).partition(".")
    return int(major), int(minor)


def highest_version(entries: Iterable[Mapping[str, Any]]) -> str:
    """The newest version in a `GET /services/data` answer."""
    versions = [normalize_version(e["version"]) for e in entries if "version" in e]
    if not versions:
        raise ApiVersionError("the org listed no API versions at /services/data")
    return max(versions, key=version_key)
