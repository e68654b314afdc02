"""Composite resources: `composite`, `composite/batch` and `composite/sobjects` collections."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.datastructures import QueryParams

from .errors import DevOrgError
from .responses import devorg_error_body
from .rest import RestApi, RestRequest, RestResult, json_object, record_values, split_url

MAX_COMPOSITE_SUBREQUESTS = 25
MAX_BATCH_SUBREQUESTS = 25
MAX_COLLECTION_RECORDS = 200
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")

ROLLED_BACK = {
    "errorCode": "PROCESSING_HALTED",
    "message": "The transaction was rolled back since another operation in the same "
               "transaction failed.",
}


class _Rollback(Exception):
    """Raised inside a store transaction to undo it."""


def _error_entry(exc: DevOrgError) -> dict[str, Any]:
    """A DevOrgError as a collection SaveResult error (`statusCode`, not `errorCode`)."""
    return {"statusCode": exc.error_code, "message": exc.message, "fields": exc.fields}


class _UnresolvedReference(Exception):
    def __init__(self, reference: str, ref_id: str) -> None:
        super().__init__(reference)
        self.reference = reference
        self.ref_id = ref_id


def _walk(value: Any, path: str) -> Any:
    for token in re.findall(r"\.([A-Za-z0-9_]+)|\[(\d+)\]", path):
        name, index = token
        if name:
            if not isinstance(value, dict):
                raise KeyError(name)
            matches = [k for k in value if k.lower() == name.lower()]
            if not matches:
                raise KeyError(name)
            value = value[matches[0]]
        else:
            if not isinstance(value, list):
                raise KeyError(index)
            value = value[int(index)]
    return value


def resolve_references(value: Any, results: dict[str, Any]) -> Any:
    """Replace `@{ref.path}` in strings of `value` with values from earlier responses."""
    if isinstance(value, dict):
        return {k: resolve_references(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve_references(v, results) for v in value]
    if not isinstance(value, str) or "@{" not in value:
        return value

    def lookup(match: re.Match[str]) -> Any:
        ref_id, path = match.group(1), match.group(2)
        if ref_id not in results:
            raise _UnresolvedReference(match.group(0)[2:-1], ref_id)
        try:
            return _walk(results[ref_id], path)
        except (KeyError, IndexError):
            raise _UnresolvedReference(match.group(0)[2:-1], ref_id) from None

    whole = _REFERENCE.fullmatch(value)
    if whole:
        return lookup(whole)
    return _REFERENCE.sub(lambda m: str(lookup(m)), value)


def install_composite(api: RestApi) -> None:
    """Add the composite resources to a REST dispatcher."""
    Composite(api)


class Composite:
    """Handlers of the composite family, run on top of the plain REST handlers."""

    def __init__(self, api: RestApi) -> None:
        self.api = api
        self.store = api.store
        api.route(r"composite", GET=self.directory, POST=self.composite)
        api.route(r"composite/batch", POST=self.batch)
        api.route(r"composite/sobjects", POST=self.create_many, PATCH=self.update_many,
                  DELETE=self.delete_many)
        api.route(r"composite/sobjects/([A-Za-z0-9_]+)", GET=self.retrieve_many,
                  POST=self.retrieve_many)
        api.route(r"composite/sobjects/([A-Za-z0-9_]+)/([A-Za-z0-9_]+)",
                  PATCH=self.upsert_many)
        api.route(r"composite/tree/([A-Za-z0-9_]+)", POST=self.tree)

    def directory(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        v = f"/services/data/v{request.version}/composite"
        return RestResult(200, {"batch": f"{v}/batch", "sobjects": f"{v}/sobjects",
                                "tree": f"{v}/tree"})

    def _sub(self, parent: RestRequest, method: str, url: str, body: Any,
             headers: dict[str, str] | None = None) -> RestResult:
        version, path, params = split_url(url)
        raw = b"" if body is None else _dumps(body)
        sub = RestRequest(method.upper(), version, path, params,
                          {k.lower(): v for k, v in (headers or {}).items()}, raw,
                          parent.session)
        try:
            if version not in self.api.state.config.api_versions:
                raise DevOrgError("NOT_FOUND", "The requested resource does not exist",
                                  status=404)
            return self.api.dispatch(sub)
        except DevOrgError as exc:
            return RestResult(exc.status,
                              devorg_error_body(exc.error_code, exc.message, exc.fields))

    # -- composite --------------------------------------------------------------------------
    def composite(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        spec = json_object(request)
        subrequests = spec.get("compositeRequest")
        if not isinstance(subrequests, list) or not subrequests:
            raise DevOrgError("INVALID_INPUT", "compositeRequest must not be empty", status=400)
        if len(subrequests) > MAX_COMPOSITE_SUBREQUESTS:
            raise DevOrgError(
                "LIMIT_EXCEEDED",
                f"Limit Exceeded: A maximum of {MAX_COMPOSITE_SUBREQUESTS} subrequests are "
                "allowed in a composite request", status=400)
        seen: set[str] = set()
        for sub in subrequests:
            ref_id = sub.get("referenceId") if isinstance(sub, dict) else None
            if not isinstance(ref_id, str) or not _REFERENCE_ID.match(ref_id):
                raise DevOrgError("INVALID_INPUT",
                                  "referenceId must only contain alphanumeric characters "
                                  "and underscores", status=400)
            if ref_id in seen:
                raise DevOrgError("INVALID_INPUT",
                                  f"Duplicate reference id {ref_id}", status=400)
            if not sub.get("method") or not sub.get("url"):
                raise DevOrgError("INVALID_INPUT",
                                  "Each subrequest needs a method and a url", status=400)
            seen.add(ref_id)
        all_or_none = bool(spec.get("allOrNone", False))
        responses: list[dict[str, Any]] = []
        if all_or_none:
            try:
                with self.store.transaction():
                    failed = self._run_composite(request, subrequests, responses, stop=True)
                    if failed:
                        raise _Rollback
            except _Rollback:
                failed_ref = responses[-1]["referenceId"]
                done = {r["referenceId"] for r in responses}
                responses = [r if r["referenceId"] == failed_ref else _halted(r["referenceId"])
                             for r in responses]
                responses += [_halted(s["referenceId"]) for s in subrequests
                              if s["referenceId"] not in done]
        else:
            self._run_composite(request, subrequests, responses, stop=False)
        return RestResult(200, {"compositeResponse": responses})

    def _run_composite(self, request: RestRequest, subrequests: list[dict[str, Any]],
                       responses: list[dict[str, Any]], *, stop: bool) -> bool:
        results: dict[str, Any] = {}
        failed_any = False
        for sub in subrequests:
            ref_id = sub["referenceId"]
            try:
                url = resolve_references(sub["url"], results)
                body = resolve_references(sub.get("body"), results)
            except _UnresolvedReference as exc:
                responses.append({
                    "body": [{"errorCode": "PROCESSING_HALTED",
                              "message": f"Invalid reference specified. No value for "
                                         f"{exc.reference} found in {exc.ref_id}. Provided "
                                         f"referenceId '{exc.ref_id}' is not valid."}],
                    "httpHeaders": {}, "httpStatusCode": 400, "referenceId": ref_id})
                failed_any = True
                if stop:
                    return True
                continue
            result = self._sub(request, sub["method"], str(url), body,
                               sub.get("httpHeaders"))
            headers = dict(result.headers)
            if result.status == 201 and isinstance(result.body, dict) and "id" in result.body:
                version, path, _ = split_url(str(url))
                sobject = path.split("/")[1] if path.startswith("sobjects/") else ""
                headers.setdefault(
                    "Location", f"/services/data/v{version}/sobjects/{sobject}/"
                                f"{result.body['id']}")
            responses.append({"body": result.body, "httpHeaders": headers,
                              "httpStatusCode": result.status, "referenceId": ref_id})
            if result.status < 400:
                results[ref_id] = result.body
            else:
                failed_any = True
                if stop:
                    return True
        return failed_any

    # -- batch ------------------------------------------------------------------------------
    def batch(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        spec = json_object(request)
        subrequests = spec.get("batchRequests")
        if not isinstance(subrequests, list) or not subrequests:
            raise DevOrgError("INVALID_BATCH_REQUEST", "batchRequests must not be empty",
                              status=400)
        if len(subrequests) > MAX_BATCH_SUBREQUESTS:
            raise DevOrgError("INVALID_BATCH_REQUEST",
                              f"A batch cannot contain more than {MAX_BATCH_SUBREQUESTS} "
                              "requests", status=400)
        halt = bool(spec.get("haltOnError", False))
        results: list[dict[str, Any]] = []
        has_errors = halted = False
        for sub in subrequests:
            if halted:
                results.append({"statusCode": 412, "result": [{
                    "errorCode": "BATCH_PROCESSING_HALTED",
                    "message": "Batch processing halted per request"}]})
                continue
            result = self._sub(request, str(sub.get("method", "GET")), str(sub.get("url", "")),
                               sub.get("richInput"))
            results.append({"statusCode": result.status, "result": result.body})
            if result.status >= 400:
                has_errors = True
                halted = halt
        return RestResult(200, {"hasErrors": has_errors, "results": results})

    # -- sObject collections ----------------------------------------------------------------
    def _records(self, request: RestRequest) -> tuple[list[dict[str, Any]], bool]:
        spec = json_object(request)
        records = spec.get("records")
        if not isinstance(records, list):
            raise DevOrgError("INVALID_FIELD", "records must be a list", status=400)
        if len(records) > MAX_COLLECTION_RECORDS:
            raise DevOrgError("EXCEEDED_ID_LIMIT",
                              "record limit reached. cannot submit more than 200 records "
                              "into this call", status=400)
        return records, bool(spec.get("allOrNone", False))

    def _collection(self, items: list[Any], all_or_none: bool,
                    operation: Any) -> list[dict[str, Any]]:
        """Run `operation(item) -> SaveResult` per item, rolling back all if asked."""
        results: list[dict[str, Any]] = []

        def run() -> bool:
            ok = True
            for item in items:
                try:
                    results.append(operation(item))
                except DevOrgError as exc:
                    failure: dict[str, Any] = {"success": False, "errors": [_error_entry(exc)]}
                    if isinstance(item, str):
                        failure = {"id": item, **failure}
                    results.append(failure)
                    ok = False
            return ok

        if not all_or_none:
            run()  # each record succeeds or fails on its own
        else:
            try:
                with self.store.transaction():
                    if not run():
                        raise _Rollback
            except _Rollback:
                rolled = {"statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                          "message": "Record rolled back because not all records were valid "
                                     "and the request was using AllOrNone header",
                          "fields": []}
                # Records that existed before keep their id; rolled-back inserts have none.
                results = [r if not r["success"] else
                           {**({"id": r["id"]} if r.get("_update") else {}),
                            "success": False, "errors": [rolled]}
                           for r in results]
        for r in results:
            r.pop("_update", None)
        return results

    def _type_of(self, record: Any) -> str:
        if not isinstance(record, dict):
            raise DevOrgError("JSON_PARSER_ERROR", "Each record must be a JSON object")
        attributes = record.get("attributes") or {}
        sobject = attributes.get("type") if isinstance(attributes, dict) else None
        if not sobject:
            raise DevOrgError("INVALID_TYPE", "sObject type must be specified in attributes",
                              fields=[])
        return self.api._sobject_name(str(sobject))

    def create_many(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        records, all_or_none = self._records(request)
        user_id = request.session.user_id

        def create(record: Any) -> dict[str, Any]:
            sobject = self._type_of(record)
            values = record_values(record)
            if values.get("Id"):
                raise DevOrgError("INVALID_FIELD_FOR_INSERT_UPDATE",
                                  "cannot specify Id in an insert call", fields=["Id"])
            record_id = self.store.create(sobject, values, user_id=user_id)
            return {"id": record_id, "success": True, "errors": []}

        return RestResult(200, self._collection(records, all_or_none, create))

    def update_many(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        records, all_or_none = self._records(request)
        user_id = request.session.user_id

        def update(record: Any) -> dict[str, Any]:
            sobject = self._type_of(record)
            values = record_values(record)
            record_id = values.pop("Id", None)
            if not record_id:
                raise DevOrgError("MISSING_ARGUMENT", "Id not specified in an update call",
                                  fields=[])
            self.store.update(sobject, str(record_id), values, user_id=user_id)
            return {"id": record_id, "success": True, "errors": [], "_update": True}

        return RestResult(200, self._collection(records, all_or_none, update))

    def upsert_many(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        records, all_or_none = self._records(request)
        sobject = self.api._sobject_name(match.group(1))
        field_name = self.api._external_field(sobject, match.group(2))
        user_id = request.session.user_id

        def upsert(record: Any) -> dict[str, Any]:
            record_type = self._type_of(record)
            if record_type != sobject:
                raise DevOrgError("INVALID_TYPE",
                                  f"Record type {record_type} does not match {sobject}")
            values = record_values(record)
            key = next((k for k in values if k.lower() == field_name.lower()), None)
            if key is None or values[key] in (None, ""):
                raise DevOrgError("MISSING_ARGUMENT",
                                  f"{field_name} not specified", fields=[field_name])
            external_value = str(values.pop(key))
            record_id, created = self.store.upsert(sobject, field_name, external_value, values,
                                                   user_id=user_id)
            return {"id": record_id, "success": True, "errors": [], "created": created}

        return RestResult(200, self._collection(records, all_or_none, upsert))

    def delete_many(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        ids = [i for i in (request.params.get("ids") or "").split(",") if i.strip()]
        if not ids:
            raise DevOrgError("MISSING_ARGUMENT", "ids must be specified", status=400)
        if len(ids) > MAX_COLLECTION_RECORDS:
            raise DevOrgError("EXCEEDED_ID_LIMIT",
                              "record limit reached. cannot submit more than 200 records "
                              "into this call", status=400)
        all_or_none = (request.params.get("allOrNone") or "false").lower() == "true"
        user_id = request.session.user_id

        def delete(record_id: str) -> dict[str, Any]:
            record_id = record_id.strip()
            sobject = self.store.sobject_for_id(record_id)
            self.store.delete(sobject, record_id, user_id=user_id)
            return {"id": record_id, "success": True, "errors": [], "_update": True}

        return RestResult(200, self._collection(ids, all_or_none, delete))

    # -- sObject tree -----------------------------------------------------------------------
    def tree(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        """`composite/tree/X`: records with nested children, all created or none."""
        sobject = self.api._sobject_name(match.group(1))
        records = json_object(request).get("records")
        if not isinstance(records, list) or not records:
            raise DevOrgError("INVALID_INPUT", "records must not be empty", status=400)
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        total = 0
        user_id = request.session.user_id

        def insert(record: Any, expected: str, parent: tuple[str, str] | None) -> None:
            nonlocal total
            total += 1
            if total > MAX_COLLECTION_RECORDS:
                raise DevOrgError("EXCEEDED_ID_LIMIT",
                                  "record limit reached. cannot submit more than 200 records "
                                  "into this call", status=400)
            attributes = record.get("attributes") if isinstance(record, dict) else None
            if not isinstance(attributes, dict) or not attributes.get("referenceId"):
                raise DevOrgError("INVALID_INPUT",
                                  "Include a reference ID for each record in the request.",
                                  status=400)
            ref = str(attributes["referenceId"])
            name = self.api._sobject_name(str(attributes.get("type") or expected))
            values: dict[str, Any] = {}
            children: list[tuple[str, list[Any]]] = []
            for key, value in record.items():
                if key == "attributes":
                    continue
                if isinstance(value, dict) and isinstance(value.get("records"), list):
                    children.append((key, value["records"]))
                else:
                    values[key] = value
            if parent is not None:
                values[parent[0]] = parent[1]
            try:
                record_id = self.store.create(name, values, user_id=user_id)
            except DevOrgError as exc:
                errors.append({"referenceId": ref, "errors": [_error_entry(exc)]})
                return
            results.append({"referenceId": ref, "id": record_id})
            describe = self.store.describe(name)
            relations = {c["relationshipName"].lower(): c for c in describe["childRelationships"]
                         if c.get("relationshipName")}
            for relationship, child_records in children:
                relation = relations.get(relationship.lower())
                if relation is None:
                    raise DevOrgError("INVALID_FIELD",
                                      f"No such relationship '{relationship}' on {name}",
                                      status=400)
                for child in child_records:
                    insert(child, str(relation["childSObject"]),
                           (str(relation["field"]), record_id))

        try:
            with self.store.transaction():
                for record in records:
                    insert(record, sobject, None)
                if errors:
                    raise _Rollback
        except _Rollback:
            return RestResult(400, {"hasErrors": True, "results": errors})
        return RestResult(201, {"hasErrors": False, "results": results})

    def retrieve_many(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self.api._sobject_name(match.group(1))
        if request.method == "POST":
            spec = json_object(request)
            ids, fields = list(spec.get("ids") or []), list(spec.get("fields") or [])
        else:
            params: QueryParams = request.params
            ids = [i for i in (params.get("ids") or "").split(",") if i]
            fields = [f for f in (params.get("fields") or "").split(",") if f]
        if not ids or not fields:
            raise DevOrgError("MISSING_ARGUMENT", "ids and fields must be specified",
                              status=400)
        records: list[Any] = []
        for record_id in ids:
            try:
                records.append(self.store.retrieve(sobject, str(record_id), fields,
                                                   api_version=request.version))
            except DevOrgError as exc:
                if exc.status == 404 or exc.error_code in ("MALFORMED_ID", "INVALID_ID_FIELD"):
                    records.append(None)
                else:
                    raise
        return RestResult(200, records)


def _halted(ref_id: str) -> dict[str, Any]:
    return {"body": [dict(ROLLED_BACK)], "httpHeaders": {}, "httpStatusCode": 400,
            "referenceId": ref_id}


def _dumps(body: Any) -> bytes:
    return orjson.dumps(body)
