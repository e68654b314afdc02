"""The devorg must not lean on the code it is used to test (engine, client, auth flows)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys, urllib.request, json
from sfbulk_mcp.devorg import DevOrg
with DevOrg(seed=2) as org:
    request = urllib.request.Request(
        org.instance_url + "/services/data/v66.0/query?q=SELECT+Id+FROM+Account",
        headers={"Authorization": "Bearer " + org.access_token()})
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["totalSize"] == 2
    from sfbulk_mcp.devorg.app import build_app  # everything the server needs is loaded
loaded = sorted(m for m in sys.modules if m.startswith("sfbulk_mcp."))
print("\\n".join(loaded))
"""

FORBIDDEN = ("sfbulk_mcp._engine", "sfbulk_mcp.engine", "sfbulk_mcp.salesforce",
             "sfbulk_mcp.auth", "sfbulk_mcp.bulk", "sfbulk_mcp.mcp")


def test_serving_the_devorg_loads_no_client_or_engine_module() -> None:
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            timeout=120, check=True)
    loaded = result.stdout.split()
    assert "sfbulk_mcp.devorg.store" in loaded
    offenders = [m for m in loaded if m.startswith(FORBIDDEN)]
    assert offenders == []
