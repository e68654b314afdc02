"""`sfbulk devorg wait`: CI scripts start a devorg in the background, then wait for it."""

from __future__ import annotations

import socket

from click.testing import CliRunner
from sfbulk_mcp.cli.main import cli
from sfbulk_mcp.devorg import DevOrg


def test_wait_returns_once_the_devorg_answers() -> None:
    with DevOrg() as org:
        result = CliRunner().invoke(cli, ["devorg", "wait", "--timeout", "10"],
                                    env={"SFBULK_DEVORG_URL": org.instance_url})
    assert result.exit_code == 0, result.output
    assert "devorg is up" in result.stderr


def test_wait_gives_up_with_a_clear_error_when_nothing_answers() -> None:
    with socket.socket() as probe:  # a port nothing listens on once this socket is closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = CliRunner().invoke(
        cli, ["devorg", "wait", "--url", f"http://127.0.0.1:{port}", "--timeout", "0.5"])
    assert result.exit_code == 1
    assert f"no devorg answered at http://127.0.0.1:{port}" in result.stderr
