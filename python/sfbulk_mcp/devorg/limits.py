"""API request limits: counted per day, reported in `Sforce-Limit-Info` and `/limits`."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from typing import Any

from .state import DevOrgConfig


def _today() -> date:
    return datetime.now(UTC).date()


class ApiLimits:
    """Per-day counters of API requests and Bulk usage (thread-safe)."""

    def __init__(self, config: DevOrgConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        self._day = _today()
        self._api_requests = 0
        self._bulk_query_jobs = 0
        self._bulk_batches = 0
        self._bulk_storage_mb = 0.0

    @property
    def daily_api_limit(self) -> int:
        return self._config.daily_api_limit

    def _roll(self) -> None:
        today = _today()
        if today != self._day:
            self._day = today
            self._api_requests = 0
            self._bulk_query_jobs = 0
            self._bulk_batches = 0

    def count_request(self) -> bool:
        """Count one API request; False when the daily limit is already used up."""
        with self._lock:
            self._roll()
            if self._api_requests >= self._config.daily_api_limit:
                return False
            self._api_requests += 1
            return True

    @property
    def api_requests(self) -> int:
        with self._lock:
            self._roll()
            return self._api_requests

    def set_usage(self, api_requests: int) -> None:
        """Pretend `api_requests` were already made today (to test limit handling)."""
        with self._lock:
            self._roll()
            self._api_requests = max(0, api_requests)

    def header_value(self) -> str:
        """The `Sforce-Limit-Info` header value: `api-usage=N/M`."""
        with self._lock:
            self._roll()
            return f"api-usage={self._api_requests}/{self._config.daily_api_limit}"

    def count_bulk_query_job(self) -> bool:
        """Count a Bulk 2.0 query job; False when the daily job limit is used up."""
        with self._lock:
            self._roll()
            if self._bulk_query_jobs >= self._config.daily_bulk_query_jobs:
                return False
            self._bulk_query_jobs += 1
            return True

    def count_bulk_batch(self, count: int = 1) -> bool:
        """Count ingest batches (Salesforce counts a Bulk 2.0 ingest upload per 10k rows)."""
        with self._lock:
            self._roll()
            if self._bulk_batches + count > self._config.daily_bulk_batches:
                return False
            self._bulk_batches += count
            return True

    def set_bulk_storage_mb(self, megabytes: float) -> None:
        """Report how much Bulk query result storage is in use."""
        with self._lock:
            self._bulk_storage_mb = max(0.0, megabytes)

    def to_json(self) -> dict[str, dict[str, Any]]:
        """The `/limits` resource body."""
        cfg = self._config
        with self._lock:
            self._roll()

            def entry(maximum: int, used: float) -> dict[str, Any]:
                return {"Max": maximum, "Remaining": max(0, int(maximum - used))}

            return {
                "ActiveScratchOrgs": entry(3, 0),
                "AnalyticsExternalDataSizeMB": entry(40960, 0),
                "ConcurrentAsyncGetReportInstances": entry(200, 0),
                "ConcurrentEinsteinDataInsightsStoryCreation": entry(5, 0),
                "ConcurrentEinsteinDiscoveryStoryCreation": entry(2, 0),
                "ConcurrentSyncReportRuns": entry(20, 0),
                "DailyAnalyticsDataflowJobExecutions": entry(60, 0),
                "DailyAnalyticsUploadedFilesSizeMB": entry(51200, 0),
                "DailyApiRequests": entry(cfg.daily_api_limit, self._api_requests),
                "DailyAsyncApexExecutions": entry(250000, 0),
                "DailyAsyncApexTests": entry(500, 0),
                "DailyBulkApiBatches": entry(cfg.daily_bulk_batches, self._bulk_batches),
                "DailyBulkV2QueryFileStorageMB": entry(cfg.bulk_file_storage_mb,
                                                       self._bulk_storage_mb),
                "DailyBulkV2QueryJobs": entry(cfg.daily_bulk_query_jobs, self._bulk_query_jobs),
                "DailyDeliveredPlatformEvents": entry(50000, 0),
                "DailyDurableGenericStreamingApiEvents": entry(1000000, 0),
                "DailyDurableStreamingApiEvents": entry(1000000, 0),
                "DailyEinsteinDataInsightsStoryCreation": entry(1000, 0),
                "DailyEinsteinDiscoveryPredictAPICalls": entry(50000, 0),
                "DailyEinsteinDiscoveryPredictionsByCDC": entry(5000000, 0),
                "DailyEinsteinDiscoveryStoryCreation": entry(100, 0),
                "DailyFunctionsApiCallLimit": entry(235000, 0),
                "DailyGenericStreamingApiEvents": entry(10000, 0),
                "DailyScratchOrgs": entry(6, 0),
                "DailyStandardVolumePlatformEvents": entry(10000, 0),
                "DailyStreamingApiEvents": entry(1000000, 0),
                "DailyWorkflowEmails": entry(2000000, 0),
                "DataStorageMB": entry(1024, 0),
                "DurableStreamingApiConcurrentClients": entry(2000, 0),
                "FileStorageMB": entry(10240, 0),
                "HourlyAsyncReportRuns": entry(1200, 0),
                "HourlyDashboardRefreshes": entry(200, 0),
                "HourlyDashboardResults": entry(5000, 0),
                "HourlyDashboardStatuses": entry(999999999, 0),
                "HourlyLongTermIdMapping": entry(100000, 0),
                "HourlyManagedContentPublicRequests": entry(50000, 0),
                "HourlyODataCallout": entry(20000, 0),
                "HourlyPublishedPlatformEvents": entry(250000, 0),
                "HourlyPublishedStandardVolumePlatformEvents": entry(100000, 0),
                "HourlyShortTermIdMapping": entry(100000, 0),
                "HourlySyncReportRuns": entry(500, 0),
                "HourlyTimeBasedWorkflow": entry(1000, 0),
                "MassEmail": entry(5000, 0),
                "MonthlyPlatformEventsUsageEntitlement": entry(300000, 0),
                "Package2VersionCreates": entry(6, 0),
                "Package2VersionCreatesWithoutValidation": entry(500, 0),
                "PermissionTypes": entry(30000, 0),
                "PrivateConnectOutboundCalloutHourlyLimitMB": entry(0, 0),
                "SingleEmail": entry(5000, 0),
                "StreamingApiConcurrentClients": entry(2000, 0),
            }
