"""What the server was asked to be: toolsets, safety switches and result budgets."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from platformdirs import user_cache_path

# Every toolset, in the order the docs list them. `apex` holds the escape hatches (Apex REST,
# raw REST calls): off unless asked for. `backup` (snapshots on the server's disk) is opt-in too.
TOOLSETS: tuple[str, ...] = ("data", "schema", "bulk", "org", "apex", "backup")
DEFAULT_TOOLSETS: frozenset[str] = frozenset({"data", "schema", "bulk", "org"})

DEFAULT_MAX_RESULT_BYTES = 20_000


class ConfigError(ValueError):
    """The server options do not make sense together."""


def parse_toolsets(value: str | Iterable[str] | None) -> frozenset[str]:
    """`"data,bulk"` / `["data", "bulk"]` / `"all"` → the set of toolset names."""
    if value is None:
        return DEFAULT_TOOLSETS
    items = value.split(",") if isinstance(value, str) else list(value)
    names = {item.strip().lower() for item in items if item.strip()}
    if not names or names == {"default"}:
        return DEFAULT_TOOLSETS
    if "all" in names:
        return frozenset(TOOLSETS)
    if "default" in names:
        names = (names - {"default"}) | DEFAULT_TOOLSETS
    unknown = sorted(names - set(TOOLSETS))
    if unknown:
        raise ConfigError(
            f"unknown toolset(s) {', '.join(unknown)}; choose from {', '.join(TOOLSETS)} or 'all'"
        )
    return frozenset(names)


def parse_objects(value: str | Iterable[str] | None) -> frozenset[str]:
    """A comma-separated object list, compared case-insensitively (Salesforce API names are)."""
    if value is None:
        return frozenset()
    items = value.split(",") if isinstance(value, str) else list(value)
    return frozenset(item.strip().lower() for item in items if item.strip())


@dataclass(frozen=True)
class ServerConfig:
    """Options of one MCP server process."""

    toolsets: frozenset[str] = DEFAULT_TOOLSETS
    read_only: bool = False
    # Empty allow list = every object allowed (the deny list still applies).
    allow_objects: frozenset[str] = frozenset()
    deny_objects: frozenset[str] = frozenset()
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES
    # Where full results (Parquet/CSV) and the schema memory live.
    data_dir: Path = field(default_factory=lambda: user_cache_path("sfbulk-mcp") / "mcp")
    # How long a bulk tool waits for its job before handing back a job handle.
    bulk_wait_seconds: float = 25.0
    # Inline rows accepted by the bulk load tools (bigger loads come as files or resources).
    max_inline_rows: int = 1_000
    org: str | None = None
    # Local file paths in and out (bulk input files, result paths). Off for remote callers
    # (HTTP mode): they must not read the server's files nor learn its paths.
    local_files: bool = True

    def __post_init__(self) -> None:
        if self.max_result_bytes < 1_000:
            raise ConfigError("--max-result-bytes must be at least 1000")

    @property
    def results_dir(self) -> Path:
        return self.data_dir / "results"

    @property
    def schema_dir(self) -> Path:
        return self.data_dir / "schema"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> ServerConfig:
        """Defaults from `SFBULK_MCP_*` variables, then explicit overrides (CLI flags)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if env.get("SFBULK_MCP_TOOLSETS"):
            values["toolsets"] = parse_toolsets(env["SFBULK_MCP_TOOLSETS"])
        if env.get("SFBULK_MCP_READ_ONLY", "").lower() in {"1", "true", "yes"}:
            values["read_only"] = True
        if env.get("SFBULK_MCP_ALLOW_OBJECTS"):
            values["allow_objects"] = parse_objects(env["SFBULK_MCP_ALLOW_OBJECTS"])
        if env.get("SFBULK_MCP_DENY_OBJECTS"):
            values["deny_objects"] = parse_objects(env["SFBULK_MCP_DENY_OBJECTS"])
        if env.get("SFBULK_MCP_MAX_RESULT_BYTES"):
            values["max_result_bytes"] = int(env["SFBULK_MCP_MAX_RESULT_BYTES"])
        if env.get("SFBULK_MCP_DATA_DIR"):
            values["data_dir"] = Path(env["SFBULK_MCP_DATA_DIR"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
