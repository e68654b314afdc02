"""Bulk API 2.0 jobs by id, whatever their kind: status, listing and abort.

Query and ingest jobs share the `750` key prefix, so a bare id does not say which endpoint
knows it; the query endpoint is asked first, then the ingest one.
"""

from __future__ import annotations

from typing import Any, Literal

from ..salesforce.client import SalesforceClient
from ..salesforce.errors import NotFoundError, SalesforceError

JobKind = Literal["query", "ingest"]
KINDS: tuple[JobKind, ...] = ("query", "ingest")
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})


JobsClient = SalesforceClient


async def find_job(
    client: JobsClient, job_id: str, kind: JobKind | None = None
) -> tuple[JobKind, dict[str, Any]]:
    """(kind, info) of the job with this id; raises `NotFoundError` when no endpoint knows it."""
    last: SalesforceError | None = None
    for candidate in (kind,) if kind else KINDS:
        try:
            return candidate, await client.bulk_get_job(candidate, job_id)
        except NotFoundError as exc:
            last = exc
        except SalesforceError as exc:
            # Some orgs answer 400 (INVALIDJOB) rather than 404 for the wrong endpoint.
            if exc.status in (400, 404):
                last = exc
                continue
            raise
    raise NotFoundError(
        f"no Bulk API 2.0 job {job_id} in this org", error_code="NOT_FOUND", status=404
    ) from last


async def abort_job(client: JobsClient, job_id: str, kind: JobKind | None = None) -> dict[str, Any]:
    """Abort a job that is still running; a finished job is returned unchanged."""
    found_kind, info = await find_job(client, job_id, kind)
    if info.get("state") in TERMINAL:
        return {**info, "jobKind": found_kind}
    aborted = await client.bulk_abort_job(found_kind, job_id)
    return {**info, **aborted, "jobKind": found_kind}


async def list_jobs(client: JobsClient, kind: JobKind | None = None) -> list[dict[str, Any]]:
    """Jobs of one kind, or of both (each tagged with `jobKind`), newest first."""
    jobs: list[dict[str, Any]] = []
    for candidate in (kind,) if kind else KINDS:
        for info in await client.bulk_list_jobs(candidate):
            jobs.append({**info, "jobKind": candidate})
    jobs.sort(key=lambda j: str(j.get("createdDate") or ""), reverse=True)
    return jobs
