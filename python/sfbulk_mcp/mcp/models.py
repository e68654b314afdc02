"""Output schemas of the tools: what `structuredContent` holds, field by field."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class RecordsResult(BaseModel):
    """Rows from a SOQL query or SOSL search, cut to the result budget."""

    total_size: int | None = Field(default=None, description="Rows Salesforce reports for the whole query")
    returned: int = Field(description="Rows in this result")
    done: bool = Field(description="True when no more rows remain after these")
    truncated: bool = Field(default=False, description="True when rows were held back by the budget")
    columns: list[str] = Field(default_factory=list)
    records: list[dict[str, Any]] = Field(default_factory=list)
    next_cursor: str | None = Field(default=None, description="Pass to salesforce_query_more for more rows")
    resource_uri: str | None = Field(default=None, description="MCP resource holding every row")
    file_path: str | None = Field(default=None, description="Local path of that file")
    file_rows: int | None = Field(default=None, description="Rows in that file")
    note: str | None = None


class RecordResult(BaseModel):
    """One record."""

    object_name: str
    record_id: str | None = None
    record: dict[str, Any]
    truncated: bool = False


class WriteResult(BaseModel):
    """The outcome of a create, update, upsert or delete."""

    object_name: str
    success: bool
    record_id: str | None = None
    created: bool | None = None
    dry_run: bool = Field(default=False, description="True when nothing was changed: confirmation needed")
    affected_records: int | None = Field(default=None, description="Records changed, or that would be")
    preview: dict[str, Any] | None = None
    errors: list[dict[str, Any]] = Field(default_factory=list)
    note: str | None = None


class FieldInfo(BaseModel):
    name: str
    type: str
    label: str | None = None
    length: int | None = None
    required: bool | None = None
    custom: bool | None = None
    updateable: bool | None = None
    external_id: bool | None = None
    reference_to: list[str] | None = None
    relationship_name: str | None = None
    picklist_values: list[str] | None = None


class DescribeResult(BaseModel):
    """An object's compact describe."""

    name: str
    label: str | None = None
    key_prefix: str | None = None
    custom: bool = False
    createable: bool | None = None
    updateable: bool | None = None
    deletable: bool | None = None
    queryable: bool | None = None
    field_count: int
    fields: list[FieldInfo]
    child_relationships: list[dict[str, Any]] = Field(default_factory=list)
    truncated: bool = False
    note: str | None = None


class ObjectSummary(BaseModel):
    name: str
    label: str | None = None
    custom: bool = False
    key_prefix: str | None = None


class ObjectList(BaseModel):
    """Objects of the org, filtered."""

    total: int
    returned: int
    objects: list[ObjectSummary]
    truncated: bool = False
    note: str | None = None


class FieldList(BaseModel):
    """Fields of one object."""

    object_name: str
    total: int
    returned: int
    fields: list[FieldInfo]
    truncated: bool = False
    note: str | None = None


class JsonResult(BaseModel):
    """A JSON answer from Salesforce, shortened to the budget when needed."""

    status: str = "ok"
    data: Any = None
    truncated: bool = False
    resource_uri: str | None = None
    note: str | None = None


class BulkJobResult(BaseModel):
    """A Bulk API 2.0 job: its state and, when finished, where its results are."""

    job_id: str
    kind: str = Field(description="query or ingest")
    operation: str | None = None
    object_name: str | None = None
    state: str
    finished: bool
    records_processed: int | None = None
    records_failed: int | None = None
    error_message: str | None = None
    resource_uri: str | None = Field(default=None, description="MCP resource with the result rows")
    file_path: str | None = None
    file_rows: int | None = None
    failed_resource_uri: str | None = None
    preview: list[dict[str, Any]] = Field(default_factory=list)
    dry_run: bool = False
    affected_records: int | None = None
    note: str | None = None


class LearnResult(BaseModel):
    """What the schema memory knows after learning."""

    learned: list[str]
    already_known: list[str]
    objects_in_org: int
    objects_learned_total: int
    note: str | None = None


class CustomObjectSummary(BaseModel):
    name: str
    label: str | None = None
    custom_fields: list[str] | None = None


class InstallationInfo(BaseModel):
    """A summary of the org's customisation."""

    instance_url: str | None = None
    api_version: str | None = None
    objects_total: int
    standard_objects: int
    custom_objects: list[CustomObjectSummary]
    namespaces: list[str]
    custom_fields_on_standard_objects: dict[str, list[str]]
    truncated: bool = False
    note: str | None = None
