"""`python -m sfbulk_mcp.devorg [options]`: the same as `sfbulk devorg start`."""

from __future__ import annotations

import sys

from sfbulk_mcp.cli.devorg_cmd import start

if __name__ == "__main__":
    sys.exit(start.main(args=sys.argv[1:], prog_name="python -m sfbulk_mcp.devorg"))
