"""Configuration and shared state of one running devorg."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .faults import Faults
    from .limits import ApiLimits
    from .sessions import AuthStore
    from .store import Store

LATEST_API_VERSION = "66.0"
OLDEST_API_VERSION = "31.0"


def supported_api_versions(oldest: str = OLDEST_API_VERSION,
                           latest: str = LATEST_API_VERSION) -> tuple[str, ...]:
    """Every API version from `oldest` to `latest`, as Salesforce spells them ("58.0")."""
    first, last = int(float(oldest)), int(float(latest))
    return tuple(f"{major}.0" for major in range(first, last + 1))


def release_label(version: str) -> str:
    """Salesforce's release name for an API version: 20.0 is "Winter '11", 66.0 "Spring '26"."""
    index = int(float(version)) - 20
    season = ("Winter", "Spring", "Summer")[index % 3]
    return f"{season} '{11 + index // 3:02d}"


@dataclass
class DevOrgConfig:
    """Everything that can be tuned when starting a devorg."""

    host: str = "127.0.0.1"
    port: int = 0
    data_dir: Path = field(default_factory=lambda: Path("devorg-data"))
    api_versions: tuple[str, ...] = field(default_factory=supported_api_versions)
    token_ttl_seconds: float = 7200.0
    refresh_token_ttl_seconds: float = 90 * 24 * 3600.0
    daily_api_limit: int = 1_000_000
    daily_bulk_query_jobs: int = 10_000
    daily_bulk_batches: int = 15_000
    bulk_file_storage_mb: int = 1_000_000
    seed_accounts: int = 0
    seed_random: int = 0
    tls: bool = False
    gzip_responses: bool = True
    query_page_size: int = 2000
    # Publish BulkApi2JobEvent platform events (query job states and partial results) on the
    # Streaming API, as an org with that beta turned on does.
    streaming_events: bool = False
    # Rows per partial result set announced while a query job runs.
    partial_result_rows: int = 50_000

    @property
    def latest_api_version(self) -> str:
        return self.api_versions[-1]


@dataclass
class OrgState:
    """One running org: handed to every route factory (REST, OAuth, Bulk)."""

    config: DevOrgConfig
    store: Store
    faults: Faults
    limits: ApiLimits
    auth: AuthStore
    instance_url: str
    org_id: str
    # Route factories may hang their own per-org managers here (e.g. `bulk`).
    extras: dict[str, Any] = field(default_factory=dict)
    bulk: Any = None

    @property
    def login_url(self) -> str:
        """The devorg is its own login server (like a My Domain)."""
        return self.instance_url

    def identity_url(self, user_id: str) -> str:
        return f"{self.instance_url}/id/{self.org_id}/{user_id}"
