"""A local Salesforce-compatible org for tests, demos and CI.

>>> with DevOrg(seed=10) as org:
...     token = org.access_token()
...     # talk to org.instance_url with any Salesforce client

What it serves (one HTTP server, which is also its own login server):

- REST `/services/data/vNN.0/…` (sobjects, describe, records, upsert, query/queryAll with
  locators, search, parameterizedSearch, composite, composite/batch, composite/tree,
  composite/sobjects, limits, tooling), Bulk API 2.0 under `…/jobs/`, Apex REST handlers
  registered with `register_apex_rest`, and the SOAP `login()` call.
- OAuth 2.0 under `/services/oauth2/` (authorize with PKCE, token: authorization_code,
  refresh_token, password, client_credentials, JWT bearer; revoke; userinfo), the identity
  URL `/id/{org}/{user}`, `/id/keys` and `/.well-known/openid-configuration`.
- Faults for tests: `org.faults` in Python, or `POST /_devorg/faults` (loopback only) with
  `{"expire_sessions": true}`, `{"fail_requests": {"status": 503, "count": 2, "path": "/query"}}`,
  `{"drop_connection": {"after_bytes": 1000, "path": "/results"}}`, `{"job_delay": 2}`,
  `{"fail_jobs": {"count": 1, "message": "…"}}`, `{"hang_jobs": 1}`,
  `{"rotate_refresh_tokens": true}`, `{"api_usage": 14999}` or `{"reset": true}`;
  `GET` shows the switches, `DELETE` resets them.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from .faults import Faults
from .state import DevOrgConfig, OrgState

if TYPE_CHECKING:
    from .apexrest import ApexRestRequest
    from .limits import ApiLimits
    from .store import Store

__all__ = ["DevOrg", "DevOrgConfig", "Faults", "OrgState", "open_state"]

DEFAULT_USERNAME = "admin@devorg.local"
DEFAULT_PASSWORD = "devorg"
DEFAULT_CLIENT_ID = "sfbulk-devorg"


def open_state(config: DevOrgConfig, instance_url: str) -> OrgState:
    """Open (or create) the org stored in `config.data_dir`, ready to be served."""
    from .limits import ApiLimits
    from .sessions import DEFAULT_REDIRECT_URIS, AuthStore
    from .store import Store

    config.data_dir.mkdir(parents=True, exist_ok=True)
    faults = Faults()
    store = Store(config.data_dir / "org.sqlite3")
    auth = AuthStore(config.data_dir / "auth.sqlite3", access_ttl=config.token_ttl_seconds,
                     refresh_ttl=config.refresh_token_ttl_seconds,
                     expired_before=lambda: faults.sessions_expired_before)
    auth.meta("created_at", lambda: repr(time.time()))  # describe's Last-Modified
    if auth.user(DEFAULT_USERNAME) is None:
        auth.set_user(DEFAULT_USERNAME, store.admin_user_id, DEFAULT_PASSWORD)
    if auth.app(DEFAULT_CLIENT_ID) is None:
        auth.set_app(DEFAULT_CLIENT_ID, name="sfbulk devorg", redirect_uris=DEFAULT_REDIRECT_URIS)
    state = OrgState(config=config, store=store, faults=faults, limits=ApiLimits(config),
                     auth=auth, instance_url=instance_url, org_id=auth.org_id())
    if config.seed_accounts > 0 and store.count("Account", include_deleted=True) == 0:
        from .seed import seed

        seed(store, config.seed_accounts, seed=config.seed_random)
    return state


def close_state(state: OrgState) -> None:
    """Stop background work and close the databases of an org."""
    hub = state.extras.get("event_hub")
    if hub is not None:
        hub.close()
    bulk = state.bulk or state.extras.get("bulk")
    if bulk is not None and hasattr(bulk, "close"):
        bulk.close()
    state.store.close()
    state.auth.close()


class DevOrg:
    """A devorg served over HTTP from a background thread (for tests and embedding)."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0,
                 data_dir: Path | str | None = None, seed: int = 0, token_ttl: float = 7200.0,
                 tls: bool = False, **config: Any) -> None:
        self._temp_dir: str | None = None
        if data_dir is None:
            self._temp_dir = tempfile.mkdtemp(prefix="sfbulk-devorg-")
            data_dir = self._temp_dir
        self.config = DevOrgConfig(host=host, port=port, data_dir=Path(data_dir),
                                   token_ttl_seconds=token_ttl, seed_accounts=seed, tls=tls,
                                   **config)
        self._server: Any = None
        self._state: OrgState | None = None
        self.ca_certificate: Path | None = None

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> Self:
        """Open the store, then serve until stop(); returns once requests are answered."""
        if self._server is not None:
            return self
        from .app import build_app
        from .server import BackgroundServer, bind_socket, ensure_tls_certificate, uvicorn_config

        cfg = self.config
        sock = bind_socket(cfg.host, cfg.port)
        state: OrgState | None = None
        try:
            port = sock.getsockname()[1]
            scheme = "https" if cfg.tls else "http"
            host = f"[{cfg.host}]" if ":" in cfg.host else cfg.host
            state = open_state(cfg, f"{scheme}://{host}:{port}")
            tls = ensure_tls_certificate(cfg.data_dir / "tls", cfg.host) if cfg.tls else None
            self.ca_certificate = tls[0] if tls else None
            server = BackgroundServer(uvicorn_config(build_app(state), tls=tls), sock)
            server.start()
        except BaseException:
            sock.close()
            if state is not None:
                close_state(state)
            raise
        self._state, self._server = state, server
        return self

    def stop(self) -> None:
        """Stop serving, close the store and remove a temporary data directory."""
        if self._server is not None:
            if self._state is not None and "event_hub" in self._state.extras:
                self._state.extras["event_hub"].close()  # long polls end before the server
            self._server.stop()
            self._server = None
        if self._state is not None:
            close_state(self._state)
            self._state = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- what tests use -----------------------------------------------------------------------
    @property
    def state(self) -> OrgState:
        if self._state is None:
            raise RuntimeError("the devorg is not started")
        return self._state

    @property
    def instance_url(self) -> str:
        return self.state.instance_url

    @property
    def login_url(self) -> str:
        return self.state.login_url

    @property
    def store(self) -> Store:
        return self.state.store

    @property
    def faults(self) -> Faults:
        return self.state.faults

    @property
    def limits(self) -> ApiLimits:
        return self.state.limits

    @property
    def org_id(self) -> str:
        return self.state.org_id

    @property
    def api_version(self) -> str:
        """The latest API version the org serves."""
        return self.config.latest_api_version

    def access_token(self, username: str = DEFAULT_USERNAME, *,
                     client_id: str = DEFAULT_CLIENT_ID, ttl: float | None = None) -> str:
        """Mint a session for `username` without an OAuth round trip."""
        found = self.state.auth.user(username)
        if found is None:
            # A User record made through the data layer (seed, REST) may have no password.
            from .rest import soql_string

            rows = self.store.query(
                f"SELECT Id, Username FROM User WHERE Username = {soql_string(username)}")
            if not rows.records:
                raise KeyError(f"no such devorg user: {username}")
            found = (str(rows.records[0]["Id"]), str(rows.records[0]["Username"]))
        token, _ = self.state.auth.issue_access_token(self.org_id, found[1], found[0],
                                                      client_id, "api", ttl=ttl)
        return token

    def add_user(self, username: str, password: str = DEFAULT_PASSWORD, *,
                 first_name: str = "Test", last_name: str | None = None,
                 email: str | None = None, security_token: str = "",
                 profile: str = "Standard User", active: bool = True) -> str:
        """Create a User record that can log in; returns its Id (reuses an existing one)."""
        store = self.store
        from .rest import soql_string

        existing = store.query(f"SELECT Id FROM User WHERE Username = {soql_string(username)}")
        if existing.records:
            user_id = str(existing.records[0]["Id"])
        else:
            local = username.split("@")[0]
            user_id = store.create("User", {
                "Username": username, "FirstName": first_name,
                "LastName": last_name or local.capitalize(), "Alias": local[:8],
                "Email": email or username, "TimeZoneSidKey": "GMT",
                "LocaleSidKey": "en_US", "EmailEncodingKey": "UTF-8",
                "LanguageLocaleKey": "en_US", "ProfileName__c": profile,
                "CompanyName": "DevOrg"})
        self.state.auth.set_user(username, user_id, password, security_token=security_token,
                                 active=active)
        return user_id

    def add_connected_app(self, client_id: str, *, secret: str | None = None,
                          redirect_uris: tuple[str, ...] | list[str] | None = None,
                          require_pkce: bool = False, certificate_pem: str | bytes | None = None,
                          rotate_refresh_tokens: bool = False, run_as: str | None = None,
                          scopes: str = "api refresh_token", name: str | None = None,
                          refresh_token_ttl: float | None = None) -> None:
        """Register an OAuth client (a secret makes it confidential; a certificate enables
        the JWT bearer flow; `run_as` enables client credentials)."""
        from .sessions import DEFAULT_REDIRECT_URIS

        if isinstance(certificate_pem, bytes):
            certificate_pem = certificate_pem.decode()
        self.state.auth.set_app(
            client_id, name=name, secret=secret,
            redirect_uris=tuple(redirect_uris) if redirect_uris else DEFAULT_REDIRECT_URIS,
            require_pkce=require_pkce, certificate_pem=certificate_pem,
            rotate_refresh_tokens=rotate_refresh_tokens, run_as_username=run_as,
            scopes=scopes, refresh_token_ttl=refresh_token_ttl)

    def register_apex_rest(self, method: str, path: str,
                           handler: Callable[[ApexRestRequest], Any]) -> None:
        """Serve `/services/apexrest{path}` (`*` wildcards, `{name}` captures) with `handler`.

        The handler gets an ApexRestRequest and returns a JSON-able body, `(status, body)`
        or a Starlette Response.
        """
        self.state.extras["apexrest"].register(method, path, handler)

    def __repr__(self) -> str:
        where = self._state.instance_url if self._state else "stopped"
        return f"DevOrg({where})"
