"""Entry point of the `sfbulk` command.

Subcommands live in their own modules and are imported only when invoked, so that
`sfbulk --help` stays fast and one broken optional dependency cannot take down every command.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

# command name -> "module:attribute" of a click.Command, relative to this package
_COMMANDS: dict[str, tuple[str, str]] = {
    "login": ("sfbulk_mcp.cli.auth_cmd", "login"),
    "logout": ("sfbulk_mcp.cli.auth_cmd", "logout"),
    "orgs": ("sfbulk_mcp.cli.auth_cmd", "orgs"),
    "mcp": ("sfbulk_mcp.cli.mcp_cmd", "mcp"),
    "export": ("sfbulk_mcp.cli.export_cmd", "export_command"),
    "import": ("sfbulk_mcp.cli.import_cmd", "import_command"),
    "query": ("sfbulk_mcp.cli.query_cmd", "query_command"),
    "describe": ("sfbulk_mcp.cli.describe_cmd", "describe_command"),
    "jobs": ("sfbulk_mcp.cli.jobs_cmd", "jobs_group"),
    "devorg": ("sfbulk_mcp.cli.devorg_cmd", "devorg"),
    "backup": ("sfbulk_mcp.cli.backup_cmd", "backup_group"),
    "diff": ("sfbulk_mcp.cli.backup_cmd", "diff_command"),
    "restore": ("sfbulk_mcp.cli.backup_cmd", "restore_command"),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = _COMMANDS.get(cmd_name)
        if target is None:
            return super().get_command(ctx, cmd_name)
        module = importlib.import_module(target[0])
        command: click.Command = getattr(module, target[1])
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="sfbulk-mcp")
def cli() -> None:
    """Move Salesforce data fast: Bulk API 2.0 exports and imports, an MCP server, a local dev org."""


def main(argv: list[str] | None = None) -> Any:
    """Run the `sfbulk` command."""
    return cli.main(args=argv if argv is not None else sys.argv[1:], prog_name="sfbulk")


def mcp_main() -> Any:
    """Run `sfbulk mcp` (installed as `sfbulk-mcp`)."""
    return cli.main(args=["mcp", *sys.argv[1:]], prog_name="sfbulk-mcp")
