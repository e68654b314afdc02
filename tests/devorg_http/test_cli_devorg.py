"""`sfbulk devorg start` in a real subprocess: startup banner, serving, persistence."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx2

START = [sys.executable, "-c", "from sfbulk_mcp.cli.main import main; main()",
         "devorg", "start", "--port", "0"]


def _start(data: Path, *extra: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    process = subprocess.Popen([*START, "--data", str(data), *extra], stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True)
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("Press Ctrl-C"):
            break
    match = next((re.search(r"Instance URL : (\S+)", line) for line in lines
                  if "Instance URL" in line), None)
    assert match, lines
    url = match.group(1)
    for _ in range(200):
        try:
            if httpx2.get(f"{url}/services/data/", trust_env=False).status_code == 200:
                break
        except httpx2.TransportError:
            time.sleep(0.05)
    return process, url, lines


def _stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


def _token(url: str) -> str:
    response = httpx2.post(f"{url}/services/oauth2/token", trust_env=False, data={
        "grant_type": "password", "client_id": "sfbulk-devorg",
        "username": "admin@devorg.local", "password": "devorg"})
    assert response.status_code == 200
    return str(response.json()["access_token"])


def test_start_prints_how_to_log_in_and_keeps_data(tmp_path: Path) -> None:
    data = tmp_path / "org"
    process, url, banner = _start(data, "--seed", "3")
    try:
        text = "\n".join(banner)
        assert "admin@devorg.local" in text and "devorg" in text
        assert "sfbulk-devorg" in text and "/services/oauth2/authorize" in text
        assert "3 accounts" in text
        token = _token(url)
        assert token not in text
        created = httpx2.post(f"{url}/services/data/v66.0/sobjects/Account", trust_env=False,
                              json={"Name": "Survives restart"},
                              headers={"Authorization": f"Bearer {token}"})
        assert created.status_code == 201
    finally:
        _stop(process)
    assert process.returncode is not None

    process, url, banner = _start(data, "--seed", "3")
    try:
        # Seeding happens only into an empty org: still 3 + 1 accounts.
        assert "4 accounts" in "\n".join(banner)
        query = httpx2.get(f"{url}/services/data/v66.0/query", trust_env=False,
                           params={"q": "SELECT Name FROM Account WHERE Name = 'Survives restart'"},
                           headers={"Authorization": f"Bearer {_token(url)}"})
        assert query.json()["totalSize"] == 1
    finally:
        _stop(process)


def test_busy_port_is_reported(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run([*START[:-1], str(port), "--data", str(tmp_path)],
                                check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
