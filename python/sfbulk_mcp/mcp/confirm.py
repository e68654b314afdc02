"""Confirmation of destructive tools: ask the user when the client can, else dry-run first.

A destructive tool takes a `confirm` argument and a resolved `approval` parameter. When the
client supports elicitation, the user is asked (with the number of records at stake) before
the tool runs, whatever `confirm` says: the model cannot answer for the user. When it does
not, the first call changes nothing and returns a preview with that count, and the model must
call again with `confirm=true` once the user agreed.
"""

from __future__ import annotations

from typing import Any, Literal

from mcp.server.elicitation import AcceptedElicitation
from pydantic import BaseModel, Field

Decision = Literal["go", "preview", "refused"]


class Confirmation(BaseModel):
    """The form shown to the user."""

    confirm: bool = Field(description="Check to go ahead")


# What a resolver returns when no question needs asking.
CONFIRMED_BY_ARGUMENT = "confirmed-by-argument"
NO_ELICITATION = "no-elicitation"


def decide(approval: Any) -> Decision:
    """Turn the resolved approval into what the tool must do."""
    if not isinstance(approval, AcceptedElicitation):
        return "refused"  # declined or cancelled by the user
    data = approval.data
    if data == CONFIRMED_BY_ARGUMENT:
        return "go"
    if data == NO_ELICITATION:
        return "preview"
    if isinstance(data, Confirmation):
        return "go" if data.confirm else "refused"
    return "refused"
