"""Bulk API 2.0 jobs as data: their fields, states, and the JSON shapes Salesforce returns.

The shapes follow recorded responses from a real org: dates with a `+0000` offset, `apiVersion`
as a number, a short body for create and for state changes, and the processing counters only
on `GET` of one job.
"""

from __future__ import annotations

import enum
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


class JobState(enum.StrEnum):
    """The states a Bulk API 2.0 job passes through."""

    OPEN = "Open"
    UPLOAD_COMPLETE = "UploadComplete"
    IN_PROGRESS = "InProgress"
    JOB_COMPLETE = "JobComplete"
    FAILED = "Failed"
    ABORTED = "Aborted"

    @property
    def is_terminal(self) -> bool:
        """True once the job will never change state again."""
        return self in (JobState.JOB_COMPLETE, JobState.FAILED, JobState.ABORTED)


class JobKind(enum.StrEnum):
    """Which family of endpoints a job belongs to."""

    QUERY = "query"
    INGEST = "ingest"


QUERY_OPERATIONS = ("query", "queryAll")
INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")

# Names Salesforce accepts for `columnDelimiter`, and the byte each one stands for.
DELIMITERS: dict[str, str] = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS: dict[str, str] = {"LF": "\n", "CRLF": "\r\n"}


def format_sf_datetime(epoch: float) -> str:
    """Format a timestamp as Salesforce writes it in job JSON: `2021-08-31T01:31:13.000+0000`."""
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


@dataclass
class Job:
    """One Bulk API 2.0 job and everything the devorg tracks about it.

    Mutable fields are changed only under `lock`, by the manager or by the job's worker.
    """

    id: str
    kind: JobKind
    operation: str
    object_name: str
    created_by_id: str
    api_version: float
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    query: str | None = None
    external_id_field: str | None = None
    assignment_rule_id: str | None = None
    state: JobState = JobState.OPEN
    created_at: float = field(default_factory=time.time)
    modified_at: float = field(default_factory=time.time)
    error_message: str | None = None
    records_processed: int = 0
    records_failed: int = 0
    processing_ms: int = 0
    upload_bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def delimiter(self) -> str:
        """The delimiter character of this job's CSV."""
        return DELIMITERS[self.column_delimiter]

    @property
    def newline(self) -> str:
        """The line terminator of this job's CSV."""
        return LINE_ENDINGS[self.line_ending]

    @property
    def job_type(self) -> str:
        """`V2Query` or `V2Ingest`, as Salesforce names Bulk API 2.0 jobs."""
        return "V2Query" if self.kind is JobKind.QUERY else "V2Ingest"

    def touch(self) -> None:
        """Record a change: Salesforce bumps `systemModstamp` on every state change."""
        # Job dates carry whole seconds (`.000`), as in Salesforce's responses.
        self.modified_at = float(int(time.time()))

    def version_text(self) -> str:
        """The API version as it appears in URLs (`52.0`)."""
        return f"{self.api_version:.1f}"

    def content_url(self) -> str:
        """Where an ingest job's data is uploaded, relative as Salesforce gives it."""
        return f"services/data/v{self.version_text()}/jobs/ingest/{self.id}/batches"

    # JSON shapes -------------------------------------------------------------------------

    def _head(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object_name,
            "createdById": self.created_by_id,
            "createdDate": format_sf_datetime(self.created_at),
            "systemModstamp": format_sf_datetime(self.modified_at),
            "state": self.state.value,
        }
        if self.external_id_field is not None:
            body["externalIdFieldName"] = self.external_id_field
        if self.assignment_rule_id is not None:
            body["assignmentRuleId"] = self.assignment_rule_id
        body["concurrencyMode"] = "Parallel"
        body["contentType"] = "CSV"
        body["apiVersion"] = self.api_version
        return body

    def created_json(self) -> dict[str, Any]:
        """The body answered to the create request (no `jobType`, no counters)."""
        body = self._head()
        if self.kind is JobKind.INGEST:
            body["contentUrl"] = self.content_url()
        body["lineEnding"] = self.line_ending
        body["columnDelimiter"] = self.column_delimiter
        return body

    def state_change_json(self) -> dict[str, Any]:
        """The body answered to a PATCH that changes the state.

        Short for ingest jobs (as recorded from a real org); a query job's abort answers the
        same fields as its creation did.
        """
        if self.kind is JobKind.QUERY:
            return self.created_json()
        return self._head()

    def list_json(self) -> dict[str, Any]:
        """One entry of the job list."""
        body = self._head()
        body["jobType"] = self.job_type
        if self.kind is JobKind.INGEST and self.state is JobState.OPEN:
            body["contentUrl"] = self.content_url()
        body["lineEnding"] = self.line_ending
        body["columnDelimiter"] = self.column_delimiter
        return body

    def info_json(self) -> dict[str, Any]:
        """The body of `GET` on one job, with its processing counters."""
        body = self.list_json()
        if self.error_message is not None:
            body["errorMessage"] = self.error_message
        if self.kind is JobKind.QUERY:
            body["numberRecordsProcessed"] = self.records_processed
            body["retries"] = 0
            body["totalProcessingTime"] = self.processing_ms
            return body
        if self.state is not JobState.OPEN:
            body["numberRecordsProcessed"] = self.records_processed
            body["numberRecordsFailed"] = self.records_failed
        body["retries"] = 0
        body["totalProcessingTime"] = self.processing_ms
        body["apiActiveProcessingTime"] = self.processing_ms * 2 // 3
        body["apexProcessingTime"] = 0
        return body

    # Persistence -------------------------------------------------------------------------

    def to_record(self) -> dict[str, Any]:
        """Everything needed to bring the job back after a restart."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "operation": self.operation,
            "object": self.object_name,
            "createdById": self.created_by_id,
            "apiVersion": self.api_version,
            "columnDelimiter": self.column_delimiter,
            "lineEnding": self.line_ending,
            "query": self.query,
            "externalIdFieldName": self.external_id_field,
            "assignmentRuleId": self.assignment_rule_id,
            "state": self.state.value,
            "createdAt": self.created_at,
            "modifiedAt": self.modified_at,
            "errorMessage": self.error_message,
            "recordsProcessed": self.records_processed,
            "recordsFailed": self.records_failed,
            "processingMs": self.processing_ms,
            "uploadBytes": self.upload_bytes,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Job:
        """Rebuild a job saved by `to_record`."""
        return cls(
            id=record["id"],
            kind=JobKind(record["kind"]),
            operation=record["operation"],
            object_name=record["object"],
            created_by_id=record["createdById"],
            api_version=float(record["apiVersion"]),
            column_delimiter=record["columnDelimiter"],
            line_ending=record["lineEnding"],
            query=record.get("query"),
            external_id_field=record.get("externalIdFieldName"),
            assignment_rule_id=record.get("assignmentRuleId"),
            state=JobState(record["state"]),
            created_at=float(record["createdAt"]),
            modified_at=float(record["modifiedAt"]),
            error_message=record.get("errorMessage"),
            records_processed=int(record.get("recordsProcessed", 0)),
            records_failed=int(record.get("recordsFailed", 0)),
            processing_ms=int(record.get("processingMs", 0)),
            upload_bytes=int(record.get("uploadBytes", 0)),
        )


@dataclass(frozen=True)
class Outcome:
    """What processing a job produced: counters, and why it failed if it did."""

    processed: int
    failed: int = 0
    error_message: str | None = None
