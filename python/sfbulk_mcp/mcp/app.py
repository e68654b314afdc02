"""The state tools share: configuration, the caller's org, result files, cursors, schema memory."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from mcp.server.mcpserver import Context
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel

from .config import ServerConfig
from .orgs import OrgAccess
from .results import Cursors, ResultFiles
from .safety import ObjectPolicy
from .schema_memory import SchemaMemory


@dataclass
class App:
    """Everything a tool needs besides its arguments."""

    config: ServerConfig
    orgs: OrgAccess
    files: ResultFiles = field(init=False)
    cursors: Cursors = field(default_factory=Cursors)
    policy: ObjectPolicy = field(init=False)
    _memories: dict[str, SchemaMemory] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.files = ResultFiles(self.config.results_dir)
        self.policy = ObjectPolicy(self.config.allow_objects, self.config.deny_objects)

    async def client(self) -> Any:
        return await self.orgs.client()

    def owner(self) -> str:
        return self.orgs.owner()

    def memory(self) -> SchemaMemory:
        """The schema memory of the caller's org."""
        owner = self.owner()
        with self._lock:
            memory = self._memories.get(owner)
            if memory is None:
                memory = SchemaMemory.for_org(self.config.schema_dir, owner)
                self._memories[owner] = memory
            return memory

    @property
    def budget(self) -> int:
        return self.config.max_result_bytes


def respond(model: BaseModel, text: str) -> CallToolResult:
    """A tool result: compact `text` for the model, `model` as the structured content."""
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json", by_alias=True),
    )


def supports_elicitation(ctx: Context[Any, Any]) -> bool:
    """True when the client can show a form (it declared the elicitation capability)."""
    try:
        capabilities = ctx.client_capabilities
    except ValueError:
        return False
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)
