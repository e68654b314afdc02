"""The allocator settings the package applies for streaming, and the switch that leaves them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = (
    "import os, sys, sfbulk_mcp, sfbulk_mcp.bulk, sfbulk_mcp._memory as m; "
    "print(os.environ.get('_RJEM_MALLOC_CONF'), m._glibc_fixed)"
)


def _run(env_extra: dict[str, str], code: str = PROBE) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("_RJEM_MALLOC_CONF",
                                                             "SFBULK_TUNE_MALLOC")}
    env.update(env_extra)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, check=True)
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings are Linux only")
def test_settings_apply_when_the_package_comes_first() -> None:
    assert _run({}) == "dirty_decay_ms:100,muzzy_decay_ms:0 True"


def test_a_users_own_jemalloc_settings_are_kept() -> None:
    assert _run({"_RJEM_MALLOC_CONF": "narenas:1"}).startswith("narenas:1 ")


def test_settings_can_be_turned_off() -> None:
    assert _run({"SFBULK_TUNE_MALLOC": "0"}) == "None False"


def test_polars_loaded_first_keeps_its_allocator_as_started() -> None:
    code = "import polars; " + PROBE
    # (Polars sets a default of its own when it starts: whatever it is, it stays.)
    assert not _run({}, code).startswith("dirty_decay_ms:100,muzzy_decay_ms:0 ")


def test_the_devorg_alone_leaves_glibc_as_it_is() -> None:
    code = ("import sfbulk_mcp.devorg, sfbulk_mcp.devorg.server, sfbulk_mcp._memory as m; "
            "print(m._glibc_fixed)")
    assert _run({}, code) == "False"
