"""Errors of the auth layer. Salesforce-side failures stay in the `AuthError` family."""

from __future__ import annotations

from typing import Any

from ..salesforce.errors import AuthError


class LoginUrlError(AuthError):
    """A login or instance URL that cannot be used for the requested flow."""

    hint = ""


class NoCredentialsError(AuthError):
    """Nothing tells us which org to use or how to log in to it."""

    hint = ""


class LoginRequiredError(AuthError):
    """The stored credentials no longer work: the user has to log in again."""

    def __init__(self, message: str, *, alias: str | None, **kwargs: Any) -> None:
        self.alias = alias
        self.hint = (
            f"run `sfbulk login --alias {alias}` to log in again"
            if alias
            else "run `sfbulk login` to log in again"
        )
        super().__init__(message, **kwargs)


class CallbackError(AuthError):
    """The browser came back to the loopback redirect with an error or a forged request."""

    hint = "start the login again with `sfbulk login`"


class OrgStoreError(Exception):
    """The org store cannot be read or written; the message says how to fix it."""


class OrgNotFoundError(OrgStoreError):
    """No org is stored under the requested alias."""

    def __init__(self, alias: str, known: list[str]) -> None:
        self.alias = alias
        listed = ", ".join(known) if known else "none yet"
        super().__init__(
            f"no org is stored under the alias {alias!r} (known aliases: {listed}); "
            f"log in with `sfbulk login --alias {alias} --instance-url URL`"
        )
