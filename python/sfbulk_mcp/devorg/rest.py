"""The REST API under `/services/data/vNN.0/`: sObjects, query, search, limits.

Resources are plain synchronous handlers behind a small dispatcher, so that the composite
resources can run several of them in one thread inside one store transaction.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.datastructures import QueryParams

from .errors import DevOrgError
from .ids import is_valid_id, make_id
from .sessions import Session
from .state import OrgState, release_label
from .store import MultipleMatchesError

# Upserts answer 200 + body for an update from this version on (204 before).
UPSERT_BODY_SINCE = 46.0
MIN_BATCH_SIZE, MAX_BATCH_SIZE = 200, 2000
CURSOR_IDLE_SECONDS = 15 * 60.0
MAX_CURSORS = 200


@dataclass
class RestRequest:
    """One REST call, stripped down to what a resource needs."""

    method: str
    version: str
    path: str  # after `/services/data/vNN.0/`, without leading or trailing slash
    params: QueryParams
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    session: Session

    def json(self) -> Any:
        """The request body parsed as JSON (JSON_PARSER_ERROR when it is not)."""
        return parse_json(self.body)


@dataclass
class RestResult:
    """What a resource answers: status, JSON-able body (None for no body), extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[RestRequest, re.Match[str]], RestResult]


def parse_json(body: bytes) -> Any:
    """Parse a request body, failing like Salesforce's JSON parser does."""
    if not body.strip():
        raise DevOrgError("JSON_PARSER_ERROR",
                          "No content to map to Object due to end of input", status=400)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        pos = min(exc.pos, len(exc.doc) - 1) if exc.doc else 0
        char = exc.doc[pos] if exc.doc else ""
        message = (f"Unexpected character ('{char}' (code {ord(char) if char else 0})): "
                   "expected a valid value (number, String, array, object, 'true', 'false' or "
                   f"'null') at [line:{exc.lineno}, column:{exc.colno}]")
        raise DevOrgError("JSON_PARSER_ERROR", message, status=400) from None


def json_object(request: RestRequest) -> dict[str, Any]:
    """The body as a JSON object (an sObject), rejecting arrays and scalars."""
    body = request.json()
    if not isinstance(body, dict):
        token = "START_ARRAY" if isinstance(body, list) else "VALUE_STRING"
        raise DevOrgError("JSON_PARSER_ERROR",
                          f"Can not deserialize SObject out of {token} token at "
                          "[line:1, column:1]", status=400)
    return body


def record_values(body: dict[str, Any]) -> dict[str, Any]:
    """Field values of an sObject body (without its `attributes`)."""
    return {k: v for k, v in body.items() if k != "attributes"}


def soql_string(value: str) -> str:
    """A SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class QueryCursors:
    """Open query locators: the rest of a result, served `batchSize` records at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cursors: OrderedDict[str, tuple[Sequence[dict[str, Any]], int, float]] = (
            OrderedDict())
        self._sequence = 0

    def open(self, records: Sequence[dict[str, Any]], total_size: int) -> str:
        with self._lock:
            self._sequence += 1
            locator = make_id("01g", self._sequence)
            self._cursors[locator] = (records, total_size, time.monotonic())
            while len(self._cursors) > MAX_CURSORS:
                self._cursors.popitem(last=False)
            return locator

    def get(self, locator: str) -> tuple[Sequence[dict[str, Any]], int]:
        now = time.monotonic()
        with self._lock:
            entry = self._cursors.get(locator)
            if entry is None or now - entry[2] > CURSOR_IDLE_SECONDS:
                self._cursors.pop(locator, None)
                raise DevOrgError("INVALID_QUERY_LOCATOR", "invalid query locator", status=400)
            self._cursors[locator] = (entry[0], entry[1], now)
            self._cursors.move_to_end(locator)
            return entry[0], entry[1]


class RestApi:
    """Routes a REST call to its resource handler."""

    def __init__(self, state: OrgState) -> None:
        self.state = state
        self.store = state.store
        self.cursors = QueryCursors()
        self._routes: list[tuple[re.Pattern[str], dict[str, Handler]]] = []
        s = r"([A-Za-z0-9_]+)"
        self.route(r"", GET=self.resources)
        self.route(r"sobjects", GET=self.describe_global)
        self.route(rf"sobjects/{s}", GET=self.sobject_info, POST=self.create)
        self.route(rf"sobjects/{s}/describe", GET=self.describe)
        self.route(rf"sobjects/{s}/(deleted|updated)", GET=self.changed)
        self.route(rf"sobjects/{s}/([^/]+)", GET=self.retrieve, PATCH=self.update,
                   DELETE=self.delete)
        self.route(rf"sobjects/{s}/{s}/([^/]+)", GET=self.retrieve_by_external,
                   PATCH=self.upsert, POST=self.upsert, DELETE=self.delete_by_external)
        self.route(r"query", GET=self.query)
        self.route(r"queryAll", GET=self.query_all)
        self.route(r"(?:query|queryAll)/(01g[A-Za-z0-9]{12,15})-(\d+)", GET=self.query_more)
        self.route(r"search", GET=self.search)
        self.route(r"parameterizedSearch", GET=self.parameterized_search,
                   POST=self.parameterized_search)
        self.route(r"limits", GET=self.limits)

    def route(self, pattern: str, **handlers: Handler) -> None:
        """Serve `pattern` (a regex of the path after the version) with per-method handlers."""
        self._routes.append((re.compile(pattern + r"\Z"), handlers))

    def dispatch(self, request: RestRequest) -> RestResult:
        """Run the resource a request names (DevOrgError for every Salesforce error)."""
        for pattern, handlers in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            handler = handlers.get(request.method)
            if handler is None and request.method == "HEAD" and "GET" in handlers:
                handler = handlers["GET"]
            if handler is None:
                allowed = ",".join((["HEAD"] if "GET" in handlers else []) + list(handlers))
                raise DevOrgError("METHOD_NOT_ALLOWED",
                                  f"HTTP Method '{request.method}' not allowed. "
                                  f"Allowed are {allowed}", status=405)
            return handler(request, match)
        raise DevOrgError("NOT_FOUND", "The requested resource does not exist", status=404)

    # -- helpers ----------------------------------------------------------------------------
    def _sobject_name(self, name: str) -> str:
        """The catalog's spelling of an sObject name (NOT_FOUND if unknown)."""
        obj = self.store.catalog.find(name)
        if obj is None:
            raise DevOrgError("NOT_FOUND", "The requested resource does not exist", status=404)
        return obj.name

    def _global_entry(self, name: str, version: str) -> dict[str, Any]:
        return dict(self.store.catalog.get(self._sobject_name(name))
                    .describe_global_entry(version))

    # -- directory, describe ----------------------------------------------------------------
    def resources(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        v = f"/services/data/v{request.version}"
        # Only what this org serves (a real org lists ~40 resources).
        body = {
            "tooling": f"{v}/tooling",
            "queryAll": f"{v}/queryAll",
            "search": f"{v}/search",
            "identity": self.state.identity_url(request.session.user_id),
            "composite": f"{v}/composite",
            "parameterizedSearch": f"{v}/parameterizedSearch",
            "limits": f"{v}/limits",
            "query": f"{v}/query",
            "jobs": f"{v}/jobs",
            "sobjects": f"{v}/sobjects",
        }
        return RestResult(200, body)

    def _unchanged_since(self, request: RestRequest) -> bool:
        """True when `If-Modified-Since` is at or after the catalog was set up (304)."""
        header = request.headers.get("if-modified-since")
        if not header:
            return False
        try:
            since = parsedate_to_datetime(header).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
        created = float(self.state.auth.meta("created_at", lambda: repr(time.time())))
        return since >= int(created)

    def describe_global(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        if self._unchanged_since(request):
            return RestResult(304)
        return RestResult(200, self.store.describe_global(request.version))

    def sobject_info(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        entry = self._global_entry(match.group(1), request.version)
        return RestResult(200, {"objectDescribe": entry, "recentItems": []})

    def describe(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._sobject_name(match.group(1))
        if self._unchanged_since(request):
            return RestResult(304)
        return RestResult(200, self.store.describe(sobject, request.version))

    def changed(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        """`sobjects/X/updated|deleted?start=…&end=…`: ids changed in a time window."""
        sobject = self._sobject_name(match.group(1))
        start, end = request.params.get("start"), request.params.get("end")
        if not start or not end:
            raise DevOrgError("MISSING_ARGUMENT", "start and end must be specified",
                              status=400)
        start_soql, end_soql = _soql_datetime(start), _soql_datetime(end)
        if match.group(2) == "updated":
            result = self.store.query(
                f"SELECT Id FROM {sobject} WHERE SystemModstamp >= {start_soql} "
                f"AND SystemModstamp <= {end_soql}")
            ids = [r["Id"] for r in result.records]
            return RestResult(200, {"ids": ids, "latestDateCovered": end})
        result = self.store.query(
            f"SELECT Id, SystemModstamp FROM {sobject} WHERE IsDeleted = true "
            f"AND SystemModstamp >= {start_soql} AND SystemModstamp <= {end_soql}",
            include_deleted=True)
        deleted = [{"id": r["Id"], "deletedDate": _job_datetime(r["SystemModstamp"])}
                   for r in result.records]
        return RestResult(200, {"deletedRecords": deleted,
                                "earliestDateAvailable": start, "latestDateCovered": end})

    # -- records ----------------------------------------------------------------------------
    def create(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._sobject_name(match.group(1))
        values = record_values(json_object(request))
        record_id = self.store.create(sobject, values, user_id=request.session.user_id)
        return RestResult(201, {"id": record_id, "success": True, "errors": []})

    def _record_id(self, sobject: str, value: str) -> str:
        if not is_valid_id(value):
            raise DevOrgError(
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {value}",
                status=404)
        return value

    def retrieve(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._sobject_name(match.group(1))
        record_id = self._record_id(sobject, match.group(2))
        fields = _field_list(request.params.get("fields"))
        try:
            record = self.store.retrieve(sobject, record_id, fields, api_version=request.version)
        except DevOrgError as exc:
            # A record in the recycle bin is simply not there for GET (DML says deleted).
            if exc.error_code == "ENTITY_IS_DELETED":
                raise DevOrgError("NOT_FOUND", "The requested resource does not exist",
                                  status=404) from None
            raise
        return RestResult(200, record)

    def update(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._sobject_name(match.group(1))
        record_id = self._record_id(sobject, match.group(2))
        values = record_values(json_object(request))
        values.pop("Id", None)
        self.store.update(sobject, record_id, values, user_id=request.session.user_id)
        return RestResult(204)

    def delete(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._sobject_name(match.group(1))
        record_id = self._record_id(sobject, match.group(2))
        self.store.delete(sobject, record_id, user_id=request.session.user_id)
        return RestResult(204)

    def _external_field(self, sobject: str, name: str) -> str:
        """The describe spelling of an external id field (or `Id`)."""
        if name.lower() == "id":
            return "Id"
        found = self.store.catalog.get(sobject).field(name)
        if found is not None and (found.external_id or found.id_lookup):
            return found.name
        raise DevOrgError(
            "NOT_FOUND",
            f"Provided external ID field does not exist or is not accessible: {name}",
            status=404)

    def _matching_ids(self, sobject: str, field_name: str, value: str) -> list[str]:
        result = self.store.query(
            f"SELECT Id FROM {sobject} WHERE {field_name} = {soql_string(value)}")
        return [str(r["Id"]) for r in result.records]

    def _multiple_choices(self, request: RestRequest, sobject: str, ids: list[str]) -> RestResult:
        return RestResult(300, [f"/services/data/v{request.version}/sobjects/{sobject}/{i}"
                                for i in ids])

    def _relationship(self, request: RestRequest, sobject: str, record_id: str,
                      name: str) -> RestResult | None:
        """`sobjects/X/{id}/{relationship}`: the parent record or the child records."""
        obj = self.store.catalog.get(sobject)
        fields = _field_list(request.params.get("fields"))
        reference = obj.reference_by_relationship(name)
        if reference is not None:
            parent = self.store.retrieve(sobject, record_id, [reference.name])
            parent_id = parent.get(reference.name)
            if not parent_id:
                raise DevOrgError("NOT_FOUND", "The requested resource does not exist",
                                  status=404)
            parent_type = self.store.sobject_for_id(str(parent_id))
            return RestResult(200, self.store.retrieve(parent_type, str(parent_id), fields,
                                                       api_version=request.version))
        child = obj.child(name)
        if child is None:
            return None
        self.store.retrieve(sobject, record_id, ["Id"])  # 404 when the parent is missing
        child_obj = self.store.catalog.get(child.child_sobject)
        columns = fields or [f.name for f in child_obj.fields if f.stored]
        result = self.store.query(
            f"SELECT {', '.join(columns)} FROM {child_obj.name} "
            f"WHERE {child.field} = {soql_string(record_id)}", api_version=request.version)
        return RestResult(200, {"totalSize": result.total_size, "done": True,
                                "records": list(result.records)})

    def retrieve_by_external(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._sobject_name(match.group(1))
        if is_valid_id(match.group(2)):
            traversed = self._relationship(request, sobject, match.group(2), match.group(3))
            if traversed is not None:
                return traversed
        field_name = self._external_field(sobject, match.group(2))
        ids = self._matching_ids(sobject, field_name, match.group(3))
        if not ids:
            raise DevOrgError("NOT_FOUND", "The requested resource does not exist", status=404)
        if len(ids) > 1:
            return self._multiple_choices(request, sobject, ids)
        fields = _field_list(request.params.get("fields"))
        record = self.store.retrieve(sobject, ids[0], fields, api_version=request.version)
        return RestResult(200, record)

    def upsert(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._sobject_name(match.group(1))
        field_name = self._external_field(sobject, match.group(2))
        value = match.group(3)
        values = record_values(json_object(request))
        try:
            record_id, created = self.store.upsert(sobject, field_name, value, values,
                                                   user_id=request.session.user_id)
        except MultipleMatchesError as exc:
            return self._multiple_choices(request, sobject, exc.record_ids)
        body = {"id": record_id, "success": True, "errors": []}
        if float(request.version) >= UPSERT_BODY_SINCE:
            body["created"] = created
            return RestResult(201 if created else 200, body)
        return RestResult(201, body) if created else RestResult(204)

    def delete_by_external(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._sobject_name(match.group(1))
        field_name = self._external_field(sobject, match.group(2))
        ids = self._matching_ids(sobject, field_name, match.group(3))
        if not ids:
            raise DevOrgError("NOT_FOUND", "The requested resource does not exist", status=404)
        if len(ids) > 1:
            return self._multiple_choices(request, sobject, ids)
        self.store.delete(sobject, ids[0], user_id=request.session.user_id)
        return RestResult(204)

    # -- query ------------------------------------------------------------------------------
    def _batch_size(self, request: RestRequest) -> int:
        options = request.headers.get("sforce-query-options", "")
        size = self.state.config.query_page_size
        for option in options.split(","):
            key, _, value = option.partition("=")
            if key.strip().lower() == "batchsize" and value.strip().isdigit():
                size = min(max(int(value.strip()), MIN_BATCH_SIZE), MAX_BATCH_SIZE)
        return size

    def _run_query(self, request: RestRequest, include_deleted: bool) -> RestResult:
        soql = request.params.get("q")
        if not soql or not soql.strip():
            raise DevOrgError("MALFORMED_QUERY", "A query string has to be specified",
                              status=400)
        result = self.store.query(soql, include_deleted=include_deleted,
                                  api_version=request.version,
                                  user_id=request.session.user_id)
        records = result.records
        size = self._batch_size(request)
        if len(records) <= size:
            return self._page(request, result.total_size, records, None, 0)
        locator = self.cursors.open(records, result.total_size)
        return self._page(request, result.total_size, records[:size], locator, size)

    def _page(self, request: RestRequest, total: int, page: Sequence[dict[str, Any]],
              locator: str | None, next_offset: int) -> RestResult:
        body: dict[str, Any] = {"totalSize": total, "done": locator is None}
        if locator is not None:
            body["nextRecordsUrl"] = (f"/services/data/v{request.version}/query/"
                                      f"{locator}-{next_offset}")
        body["records"] = list(page)
        return RestResult(200, body)

    def query(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        return self._run_query(request, include_deleted=False)

    def query_all(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        return self._run_query(request, include_deleted=True)

    def query_more(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        locator, offset = match.group(1), int(match.group(2))
        records, total = self.cursors.get(locator)
        if offset > len(records):
            raise DevOrgError("INVALID_QUERY_LOCATOR", "invalid query locator", status=400)
        size = self._batch_size(request)
        end = offset + size
        page = records[offset:end]
        return self._page(request, total, page, locator if end < len(records) else None, end)

    # -- search -----------------------------------------------------------------------------
    def search(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sosl = request.params.get("q")
        if not sosl or not sosl.strip():
            raise DevOrgError("MALFORMED_SEARCH", "No search term found. The search term must "
                              "be enclosed in braces.", status=400)
        return RestResult(200, self.store.search(sosl, api_version=request.version))

    def parameterized_search(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        """`parameterizedSearch` (GET params or POST JSON), translated to SOSL."""
        if request.method == "POST":
            spec = json_object(request)
        else:
            spec = _parameterized_from_params(request.params)
        term = spec.get("q")
        if not isinstance(term, str) or not term.strip():
            raise DevOrgError("MISSING_ARGUMENT", "Missing required parameter: q", status=400)
        return RestResult(200, self.store.search(parameterized_sosl(spec),
                                                 api_version=request.version))

    # -- limits -----------------------------------------------------------------------------
    def limits(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        return RestResult(200, self.state.limits.to_json())


def versions_list(state: OrgState) -> list[dict[str, str]]:
    """`/services/data/`: every supported version, oldest first."""
    return [{"label": release_label(v), "url": f"/services/data/v{v}", "version": v}
            for v in state.config.api_versions]


_SOSL_RESERVED = re.compile(r"([?&|!{}\[\]()^~*:\\\"'+\-])")
_SCOPES = {"ALL": "ALL FIELDS", "NAME": "NAME FIELDS", "EMAIL": "EMAIL FIELDS",
           "PHONE": "PHONE FIELDS", "SIDEBAR": "SIDEBAR FIELDS"}


def _parameterized_from_params(params: QueryParams) -> dict[str, Any]:
    spec: dict[str, Any] = {"q": params.get("q")}
    if params.get("in"):
        spec["in"] = params["in"]
    if params.get("overallLimit"):
        spec["overallLimit"] = params["overallLimit"]
    default_fields = _field_list(params.get("fields"))
    names = _field_list(params.get("sobject")) or []
    sobjects = []
    for name in names:
        entry: dict[str, Any] = {"name": name}
        fields = _field_list(params.get(f"{name}.fields")) or default_fields
        if fields:
            entry["fields"] = fields
        if params.get(f"{name}.limit"):
            entry["limit"] = params[f"{name}.limit"]
        if params.get(f"{name}.where"):
            entry["where"] = params[f"{name}.where"]
        sobjects.append(entry)
    if sobjects:
        spec["sobjects"] = sobjects
    elif default_fields:
        spec["fields"] = default_fields
    return spec


def parameterized_sosl(spec: dict[str, Any]) -> str:
    """The SOSL statement a parameterizedSearch request stands for."""
    term = _SOSL_RESERVED.sub(r"\\\1", str(spec["q"]))
    scope = _SCOPES.get(str(spec.get("in", "ALL")).upper())
    if scope is None:
        raise DevOrgError("INVALID_SEARCH_SCOPE", f"Invalid search scope: {spec.get('in')}",
                          status=400)
    parts = [f"FIND {{{term}}} IN {scope}"]
    default_fields = spec.get("fields") or []
    returning = []
    for entry in spec.get("sobjects") or []:
        name = str(entry["name"])
        fields = entry.get("fields") or default_fields or ["Id"]
        clause = f"{name}({', '.join(str(f) for f in fields)}"
        if entry.get("where"):
            clause += f" WHERE {entry['where']}"
        if entry.get("limit"):
            clause += f" LIMIT {int(entry['limit'])}"
        returning.append(clause + ")")
    if returning:
        parts.append("RETURNING " + ", ".join(returning))
    if spec.get("overallLimit"):
        parts.append(f"LIMIT {int(spec['overallLimit'])}")
    return " ".join(parts)


def _field_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [f.strip() for f in value.split(",") if f.strip()]


def _soql_datetime(value: str) -> str:
    """An ISO 8601 timestamp from a URL, as a SOQL datetime literal."""
    text = value.strip().replace(" ", "+")
    if text.endswith("+00:00"):
        text = text[:-6] + "Z"
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)", text):
        raise DevOrgError("INVALID_DATETIME", f"Invalid date/time: {value}", status=400)
    return text


def _job_datetime(value: Any) -> Any:
    if isinstance(value, str) and value.endswith("Z"):
        return value[:-1] + "+0000"
    return value


def split_url(url: str) -> tuple[str, str, QueryParams]:
    """(`vNN.0` version, path after it, query) of a `/services/data/vNN.0/…` or `vNN.0/…` URL."""
    parts = urlsplit(url)
    path = parts.path
    path = path.removeprefix("/services/data/")
    path = path.lstrip("/")
    match = re.match(r"v(\d+\.\d)(?:/|$)(.*)", path)
    if match is None:
        raise DevOrgError("NOT_FOUND", "The requested resource does not exist", status=404)
    return match.group(1), match.group(2).strip("/"), QueryParams(parts.query)
