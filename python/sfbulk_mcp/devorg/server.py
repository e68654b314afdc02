"""Serving the devorg with uvicorn: in a background thread (tests) or in the foreground (CLI)."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import threading
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket; port 0 picks a free port (read it back from the socket)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP matters: asyncio only turns Nagle off on accepted sockets whose
    # proto says TCP; with proto 0 every small response waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def ensure_tls_certificate(directory: Path, host: str) -> tuple[Path, Path]:
    """A self-signed certificate for localhost/127.0.0.1/::1/`host` (created once).

    Clients trust it by pointing their CA bundle at the returned certificate file.
    """
    cert_path, key_path = directory / "devorg-cert.pem", directory / "devorg-key.pem"
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sfbulk devorg")])
    alt_names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for address in {"127.0.0.1", "::1", host}:
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(address)))
        except ValueError:
            alt_names.append(x509.DNSName(address))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def uvicorn_config(app: ASGIApp, *, tls: tuple[Path, Path] | None,
                   log_level: str = "warning", own_logging: bool = False) -> uvicorn.Config:
    """How the devorg runs under uvicorn (no lifespan, no access log: it is a test server).

    Embedded (`own_logging=False`) it leaves the host process's logging configuration alone:
    uvicorn's default would run `logging.config.dictConfig`, which closes every handler
    already installed (pytest's log capture included).
    """
    return uvicorn.Config(
        app, log_level=log_level, access_log=False, lifespan="off", loop="asyncio",
        log_config=uvicorn.config.LOGGING_CONFIG if own_logging else None,
        timeout_keep_alive=30, server_header=False, date_header=True,
        ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None,
    )


class BackgroundServer:
    """uvicorn on its own event loop in a daemon thread."""

    def __init__(self, config: uvicorn.Config, sock: socket.socket) -> None:
        self._server = uvicorn.Server(config)
        self._tls = config.ssl_certfile is not None
        self._sock = sock
        self._thread = threading.Thread(target=self._run, name="devorg-http", daemon=True)
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - surfaced by start()
            self._error = exc

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._server.serve(sockets=[self._sock])

    async def _abort_connections(self) -> None:
        # A TLS close waits for the peer's close_notify (up to 30 s): idle keep-alive
        # connections of clients that are still open would outlive the loop. Cut them.
        for connection in list(self._server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()

    def start(self, timeout: float = 30.0) -> None:
        self._thread.start()
        ticker = threading.Event()
        waited = 0.0
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the devorg server failed to start: {self._error!r}")
            ticker.wait(0.01)
            waited += 0.01
            if waited > timeout:
                raise TimeoutError("the devorg server did not start in time")

    def stop(self, timeout: float = 10.0) -> None:
        loop = self._loop
        if self._tls and loop is not None and self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._abort_connections(), loop)
            future.result(timeout)
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._sock.close()
