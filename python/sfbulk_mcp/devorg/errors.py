"""Salesforce-style errors raised by the devorg's data layer."""

from __future__ import annotations

from typing import Any


class DevOrgError(Exception):
    """A Salesforce-style error: HTTP status + errorCode + message + fields.

    The REST layer turns it into Salesforce's error body
    ``[{"message": ..., "errorCode": ..., "fields": [...]}]`` with ``status``.
    """

    def __init__(
        self,
        error_code: str,
        message: str,
        *,
        status: int = 400,
        fields: list[str] | None = None,
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.error_code = error_code
        self.message = message
        self.status = status
        self.fields: list[str] = list(fields or [])

    def to_json(self) -> list[dict[str, Any]]:
        """The REST error body, always with a ``fields`` key."""
        return [{"message": self.message, "errorCode": self.error_code, "fields": self.fields}]

    def bulk_error(self) -> str:
        """The ``sf__Error`` cell Bulk API 2.0 writes: ``CODE:message:fields --``."""
        return f"{self.error_code}:{self.message}:{','.join(self.fields)} --"

    def __repr__(self) -> str:
        return f"DevOrgError({self.error_code!r}, {self.message!r}, status={self.status})"


def not_found() -> DevOrgError:
    """The error Salesforce gives for a record that does not exist."""
    return DevOrgError(
        "NOT_FOUND", "The requested resource does not exist", status=404
    )


def invalid_type(sobject: str) -> DevOrgError:
    """The error for an unknown sObject name, worded as Salesforce words it."""
    return DevOrgError(
        "INVALID_TYPE",
        f"sObject type '{sobject}' is not supported. If you are attempting to use a custom "
        "object, be sure to append the '__c' after the entity name. Please reference your "
        "WSDL or the describe call for the appropriate names.",
        status=404,
    )


def no_such_column(field: str, sobject: str) -> str:
    """Salesforce's INVALID_FIELD wording for an unknown field name."""
    return (
        f"No such column '{field}' on entity '{sobject}'. If you are attempting to use a "
        "custom field, be sure to append the '__c' after the custom field name. Please "
        "reference your WSDL or the describe call for the appropriate names."
    )
