"""Bulk API 2.0 for the devorg: query and ingest jobs, their state machine and result files.

`bulk_routes(state)` gives the HTTP routes; `BulkJobs.of(state)` the per-org job manager
(kept on `state.bulk`, closed by the devorg on stop).
"""

from __future__ import annotations

from sfbulk_mcp.devorg.bulk.manager import BulkJobs
from sfbulk_mcp.devorg.bulk.model import Job, JobKind, JobState
from sfbulk_mcp.devorg.bulk.routes import bulk_routes

__all__ = ["BulkJobs", "Job", "JobKind", "JobState", "bulk_routes"]
