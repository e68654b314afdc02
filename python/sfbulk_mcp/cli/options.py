"""Options shared by every command that talks to an org."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

ORG_HELP = (
    "Alias of a stored org (see `sfbulk orgs`); `devorg` uses a local org with no set-up. "
    "Default: the default org, else the SALESFORCE_* environment variables."
)


def org_option(func: F) -> F:
    """Add `--org ALIAS` (also read from SFBULK_ORG), passed to the command as `org`."""
    decorated: F = click.option(
        "--org",
        "-o",
        "org",
        metavar="ALIAS",
        default=None,
        envvar="SFBULK_ORG",
        show_envvar=True,
        help=ORG_HELP,
    )(func)
    return decorated
