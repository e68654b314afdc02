"""The errors Bulk API 2.0 answers with, as `DevOrgError`s the HTTP layer turns into JSON."""

from __future__ import annotations

from collections.abc import Iterable

from sfbulk_mcp.devorg.bulk.model import Job, JobKind
from sfbulk_mcp.devorg.errors import DevOrgError


def job_not_found() -> DevOrgError:
    """404 for a job Id that names no job of this kind."""
    return DevOrgError("NOT_FOUND", "The requested resource does not exist", status=404)


def invalid_operation(value: object, allowed: Iterable[str]) -> DevOrgError:
    """400 for a missing or unknown `operation`."""
    if value is None:
        return missing_field("operation")
    return DevOrgError(
        "INVALIDJOB",
        f"InvalidJob : Invalid value for operation: {value}. "
        f"Allowed values: {', '.join(allowed)}",
    )


def missing_field(name: str) -> DevOrgError:
    """400 for a required job field left out of the request."""
    return DevOrgError("INVALIDJOB", f"InvalidJob : Required field is missing: {name}")


def invalid_object(name: str) -> DevOrgError:
    """400 for an ingest job on an object the org does not have."""
    return DevOrgError(
        "INVALIDJOB", f"InvalidJob : Unable to find object: {name}", fields=["object"]
    )


def invalid_enum(name: str, value: object, allowed: Iterable[str]) -> DevOrgError:
    """400 for a value outside one of the job fields' enumerations."""
    return DevOrgError(
        "INVALIDJOB",
        f"InvalidJob : Invalid value for {name}: {value}. Allowed values: {', '.join(allowed)}",
    )


def invalid_job(message: str) -> DevOrgError:
    """400 for any other invalid job request."""
    return DevOrgError("INVALIDJOB", f"InvalidJob : {message}")


def invalid_filter(name: str, value: str) -> DevOrgError:
    """400 for an unknown filter value on the job list."""
    return DevOrgError("API_ERROR", f"Invalid value for {name}: {value}")


def invalid_query_locator(token: str) -> DevOrgError:
    """400 for a `queryLocator` the job list never handed out."""
    return DevOrgError("INVALID_QUERY_LOCATOR", f"invalid query locator: {token}")


def unsupported_query(message: str) -> DevOrgError:
    """400 for SOQL that Bulk API 2.0 does not run (aggregates, OFFSET, ...)."""
    return DevOrgError("API_ERROR", message)


def exceeded_quota(limit: str) -> DevOrgError:
    """Too many jobs today."""
    return DevOrgError("EXCEEDED_QUOTA", f"ExceededQuota : {limit} limit exceeded", status=400)


def invalid_state_request(requested: object, job: Job) -> DevOrgError:
    """400 for a PATCH asking for a state the job cannot be set to."""
    allowed = "Aborted" if job.kind is JobKind.QUERY else "UploadComplete, Aborted"
    return DevOrgError(
        "INVALIDJOBSTATE",
        f"Invalid state value: {requested}. Allowed values: {allowed}",
    )


def cannot_abort(job: Job) -> DevOrgError:
    """400 when aborting a job that already finished."""
    return DevOrgError(
        "INVALIDJOBSTATE",
        f"Aborting already {_finished_word(job)} Job not allowed",
    )


def cannot_close(job: Job) -> DevOrgError:
    """400 when closing the upload of a job that is not Open."""
    return DevOrgError(
        "INVALIDJOBSTATE",
        f"Unable to set the state of job {job.id} to UploadComplete: "
        f"the job is {job.state.value}, not Open",
    )


def cannot_delete(job: Job) -> DevOrgError:
    """400 when deleting a job that is still open or running."""
    return DevOrgError(
        "INVALIDJOBSTATE",
        f"Job {job.id} is {job.state.value}: only UploadComplete, JobComplete, Aborted or "
        "Failed jobs can be deleted. Abort it first.",
    )


def upload_not_open(job: Job) -> DevOrgError:
    """409 for an upload to a job whose upload is closed."""
    return DevOrgError(
        "INVALIDJOBSTATE",
        f"Job {job.id} is {job.state.value}: data can only be uploaded to an Open job",
        status=409,
    )


def multiple_uploads(job: Job) -> DevOrgError:
    """400 for a second upload to the same job (Bulk API 2.0 takes one PUT per job)."""
    return DevOrgError(
        "INVALIDJOBSTATE",
        f"Found multiple contents for job: <{job.id}>, please 'Close' / 'Abort' / 'Delete' "
        "the current Job then create a new Job and make sure you only do 'PUT' once on a "
        "given Job.",
    )


def upload_too_large(limit: int) -> DevOrgError:
    """413 for an upload over the per-job size limit."""
    megabytes = limit / (1024 * 1024)
    return DevOrgError(
        "EXCEEDED_MAX_SIZE_REQUEST",
        f"Exceeded max size limit of {megabytes:g} MB of base64 encoded content per job "
        "upload. Split the data into several jobs (about 100 MB of CSV each).",
        status=413,
    )


def empty_upload() -> DevOrgError:
    """400 for an upload with no content."""
    return DevOrgError("INVALIDBATCH", "InvalidBatch : Empty batch")


def results_not_ready(job: Job) -> DevOrgError:
    """412 for results asked before the job finished."""
    return DevOrgError(
        "INVALIDJOBSTATE",
        f"Results are not available: job {job.id} is {job.state.value}. "
        "Wait until the job state is JobComplete.",
        status=412,
    )


def version_mismatch(job: Job, version: str) -> DevOrgError:
    """409 for results asked with another API version than the job's."""
    return DevOrgError(
        "API_ERROR",
        f"Job {job.id} was created in API version {job.version_text()}; get its results "
        f"with the same version, not {version}",
        status=409,
    )


def invalid_locator(locator: str) -> DevOrgError:
    """400 for a result locator this job never handed out."""
    return DevOrgError("INVALIDLOCATOR", f"Invalid locator: {locator}")


def invalid_max_records(value: str) -> DevOrgError:
    """400 for a `maxRecords` that is not a positive whole number."""
    return DevOrgError("INVALIDMAXRECORDS",
                       f"maxRecords must be a positive integer, not {value}")


def unsupported_version(version: str, needed: str) -> DevOrgError:
    """404 for a resource asked with an API version older than the one that introduced it."""
    return DevOrgError(
        "NOT_FOUND",
        f"The requested resource does not exist in API version {version}; it is "
        f"available in {needed} and later",
        status=404,
    )


def _finished_word(job: Job) -> str:
    return {"JobComplete": "Completed", "Failed": "Failed", "Aborted": "Aborted"}.get(
        job.state.value, job.state.value
    )
