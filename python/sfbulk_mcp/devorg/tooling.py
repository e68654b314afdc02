"""A small Tooling API: `tooling/query` and `tooling/sobjects` over a few metadata objects.

ApexClass and ApexTrigger records live in `tooling.json` in the data directory; CustomObject,
CustomField and EntityDefinition are derived from the object catalog.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import DevOrgError, invalid_type, no_such_column
from .ids import make_id, normalize_id
from .rest import RestApi, RestRequest, RestResult, json_object, record_values

_FIELDS: dict[str, tuple[str, ...]] = {
    "ApexClass": ("Id", "Name", "NamespacePrefix", "ApiVersion", "Status", "IsValid", "Body",
                  "BodyCrc", "LengthWithoutComments", "CreatedDate", "CreatedById",
                  "LastModifiedDate", "LastModifiedById", "SystemModstamp"),
    "ApexTrigger": ("Id", "Name", "NamespacePrefix", "TableEnumOrId", "ApiVersion", "Status",
                    "IsValid", "Body", "BodyCrc", "LengthWithoutComments", "UsageBeforeInsert",
                    "UsageAfterInsert", "UsageBeforeUpdate", "UsageAfterUpdate",
                    "UsageBeforeDelete", "UsageAfterDelete", "UsageIsBulk", "UsageAfterUndelete",
                    "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                    "SystemModstamp"),
    "CustomObject": ("Id", "DeveloperName", "NamespacePrefix", "Description", "ManageableState",
                     "SharingModel", "ExternalSharingModel", "CreatedDate", "CreatedById",
                     "LastModifiedDate", "LastModifiedById"),
    "CustomField": ("Id", "DeveloperName", "TableEnumOrId", "NamespacePrefix", "Description",
                    "InlineHelpText", "ManageableState", "CreatedDate", "CreatedById",
                    "LastModifiedDate", "LastModifiedById"),
    "EntityDefinition": ("Id", "DurableId", "QualifiedApiName", "DeveloperName", "Label",
                         "PluralLabel", "KeyPrefix", "IsCustomizable", "IsQueryable",
                         "NamespacePrefix"),
}
_KEY_PREFIXES = {"ApexClass": "01p", "ApexTrigger": "01q", "CustomObject": "01I",
                 "CustomField": "00N", "EntityDefinition": "000"}
_WRITABLE = {"ApexClass", "ApexTrigger"}

_SAMPLE_CLASS = """public with sharing class AccountService {
    public static List<Account> topAccounts(Integer n) {
        return [SELECT Id, Name, AnnualRevenue FROM Account
                ORDER BY AnnualRevenue DESC NULLS LAST LIMIT :n];
    }
}"""
_SAMPLE_TRIGGER = """trigger AccountBeforeInsert on Account (before insert) {
    for (Account a : Trigger.new) {
        if (a.Rating == null) { a.Rating = 'Warm'; }
    }
}"""


def _now() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


class ToolingData:
    """The Tooling records of one org."""

    def __init__(self, api: RestApi) -> None:
        self.api = api
        self._path: Path = api.state.config.data_dir / "tooling.json"
        self._lock = threading.Lock()
        self._records: dict[str, list[dict[str, Any]]] = {"ApexClass": [], "ApexTrigger": []}
        self._sequence = 0
        if self._path.exists():
            saved = json.loads(self._path.read_text("utf-8"))
            self._records.update(saved["records"])
            self._sequence = int(saved["sequence"])
        else:
            self.create("ApexClass", {"Name": "AccountService", "Body": _SAMPLE_CLASS})
            self.create("ApexTrigger", {"Name": "AccountBeforeInsert", "TableEnumOrId": "Account",
                                        "Body": _SAMPLE_TRIGGER})

    def _save(self) -> None:
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"records": self._records, "sequence": self._sequence}),
                       "utf-8")
        tmp.replace(self._path)

    def create(self, sobject: str, values: dict[str, Any]) -> str:
        """Add an ApexClass / ApexTrigger (compiled instantly: Status Active, IsValid)."""
        if sobject not in _WRITABLE:
            raise DevOrgError("INVALID_TYPE_FOR_OPERATION",
                              f"entity type {sobject} does not support insert")
        unknown = [k for k in values if k not in _FIELDS[sobject]]
        if unknown:
            raise DevOrgError("INVALID_FIELD", no_such_column(unknown[0], sobject),
                              fields=[unknown[0]])
        for required in ("Name", "Body") + (("TableEnumOrId",) if sobject == "ApexTrigger"
                                            else ()):
            if not values.get(required):
                raise DevOrgError("REQUIRED_FIELD_MISSING",
                                  f"Required fields are missing: [{required}]",
                                  fields=[required])
        with self._lock:
            if any(r["Name"].lower() == str(values["Name"]).lower()
                   for r in self._records[sobject]):
                raise DevOrgError("DUPLICATE_VALUE",
                                  f"duplicate value found: Name duplicates value on record "
                                  f"with id: {values['Name']}", fields=["Name"])
            self._sequence += 1
            record_id = make_id(_KEY_PREFIXES[sobject], self._sequence)
            now = _now()
            admin = self.api.store.admin_user_id
            body = str(values["Body"])
            record: dict[str, Any] = {name: None for name in _FIELDS[sobject]}
            record.update({
                "Id": record_id, "Name": values["Name"], "ApiVersion":
                    float(self.api.state.config.latest_api_version), "Status": "Active",
                "IsValid": True, "Body": body, "BodyCrc": float(sum(body.encode()) % 2**32),
                "LengthWithoutComments": len(re.sub(r"//[^\n]*|/\*.*?\*/", "", body, flags=re.DOTALL)),
                "CreatedDate": now, "CreatedById": admin, "LastModifiedDate": now,
                "LastModifiedById": admin, "SystemModstamp": now})
            if sobject == "ApexTrigger":
                events = str(values.get("Body", "")).split("{", 1)[0].lower()
                record["TableEnumOrId"] = values["TableEnumOrId"]
                for flag, words in (("UsageBeforeInsert", "before insert"),
                                    ("UsageAfterInsert", "after insert"),
                                    ("UsageBeforeUpdate", "before update"),
                                    ("UsageAfterUpdate", "after update"),
                                    ("UsageBeforeDelete", "before delete"),
                                    ("UsageAfterDelete", "after delete"),
                                    ("UsageAfterUndelete", "after undelete")):
                    record[flag] = words in events
                record["UsageIsBulk"] = True
            self._records[sobject].append(record)
            self._save()
            return record_id

    def delete(self, sobject: str, record_id: str) -> None:
        with self._lock:
            rows = self._records.get(sobject, [])
            for row in rows:
                if row["Id"] == record_id:
                    rows.remove(row)
                    self._save()
                    return
        raise DevOrgError("NOT_FOUND", "The requested resource does not exist", status=404)

    def rows(self, sobject: str) -> list[dict[str, Any]]:
        """Every record of a Tooling object (derived ones computed now)."""
        if sobject in _WRITABLE:
            with self._lock:
                return [dict(r) for r in self._records[sobject]]
        catalog = list(self.api.store.catalog)
        admin = self.api.store.admin_user_id
        created = "2024-01-01T00:00:00.000+0000"
        stamps = {"CreatedDate": created, "CreatedById": admin, "LastModifiedDate": created,
                  "LastModifiedById": admin}
        if sobject == "EntityDefinition":
            return [{"Id": "000000000000000AAA", "DurableId": o.name,
                     "QualifiedApiName": o.name, "DeveloperName": o.name.removesuffix("__c"),
                     "Label": o.label, "PluralLabel": o.label_plural, "KeyPrefix": o.key_prefix,
                     "IsCustomizable": True, "IsQueryable": True, "NamespacePrefix": None}
                    for o in catalog]
        objects = {o.name: make_id("01I", i + 1) for i, o in enumerate(catalog) if o.custom}
        if sobject == "CustomObject":
            return [{"Id": objects[o.name], "DeveloperName": o.name.removesuffix("__c"),
                     "NamespacePrefix": None, "Description": None,
                     "ManageableState": "unmanaged", "SharingModel": "ReadWrite",
                     "ExternalSharingModel": "Private", **stamps}
                    for o in catalog if o.custom]
        if sobject == "CustomField":
            rows, n = [], 0
            for o in catalog:
                for f in o.fields:
                    if not f.custom:
                        continue
                    n += 1
                    rows.append({"Id": make_id("00N", n),
                                 "DeveloperName": f.name.removesuffix("__c"),
                                 "TableEnumOrId": objects.get(o.name, o.name),
                                 "NamespacePrefix": None, "Description": None,
                                 "InlineHelpText": None, "ManageableState": "unmanaged",
                                 **stamps})
            return rows
        raise invalid_type(sobject)


# -- a small SOQL subset for Tooling queries ------------------------------------------------
_TOKEN = re.compile(r"\s*(?:('(?:[^'\\]|\\.)*')|(-?\d+(?:\.\d+)?)|(!=|<>|<=|>=|[=<>(),])"
                    r"|([A-Za-z_][A-Za-z0-9_.]*))")


def _tokens(text: str) -> list[tuple[str, Any]]:
    tokens: list[tuple[str, Any]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise DevOrgError("MALFORMED_QUERY",
                              f"unexpected token: '{text[pos:].split()[0]}'", status=400)
        string, number, symbol, word = match.groups()
        if string is not None:
            tokens.append(("str", re.sub(r"\\(.)", r"\1", string[1:-1])))
        elif number is not None:
            tokens.append(("num", float(number)))
        elif symbol is not None:
            tokens.append(("sym", symbol))
        else:
            tokens.append(("word", word))
        pos = match.end()
    return tokens


Predicate = Callable[[dict[str, Any]], bool]


class _ToolingQuery:
    """SELECT fields|COUNT() FROM X [WHERE …] [ORDER BY f [ASC|DESC]] [LIMIT n] [OFFSET n]."""

    def __init__(self, text: str, data: ToolingData) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self._keyword("SELECT")
        self.count = False
        self.fields: list[str] = []
        if self._peek_word("COUNT"):
            self.pos += 1
            self._symbol("(")
            self._symbol(")")
            self.count = True
        else:
            self.fields.append(self._word())
            while self._peek_symbol(","):
                self.pos += 1
                self.fields.append(self._word())
        self._keyword("FROM")
        name = self._word()
        sobject = next((k for k in _FIELDS if k.lower() == name.lower()), None)
        if sobject is None:
            raise invalid_type(name)
        self.sobject = sobject
        self.columns = {c.lower(): c for c in _FIELDS[sobject]}
        self.fields = [self._column(f) for f in self.fields]
        self.where: Predicate = lambda row: True
        self.order: tuple[str, bool] | None = None
        self.limit: int | None = None
        self.offset = 0
        if self._peek_word("WHERE"):
            self.pos += 1
            self.where = self._or()
        if self._peek_word("ORDER"):
            self.pos += 1
            self._keyword("BY")
            column = self._column(self._word())
            descending = False
            if self._peek_word("ASC") or self._peek_word("DESC"):
                descending = self._word().upper() == "DESC"
            self.order = (column, descending)
        if self._peek_word("LIMIT"):
            self.pos += 1
            self.limit = int(self._value())
        if self._peek_word("OFFSET"):
            self.pos += 1
            self.offset = int(self._value())
        if self.pos < len(self.tokens):
            raise DevOrgError("MALFORMED_QUERY",
                              f"unexpected token: '{self.tokens[self.pos][1]}'", status=400)
        self.data = data

    def _column(self, name: str) -> str:
        column = self.columns.get(name.lower())
        if column is None:
            raise DevOrgError("INVALID_FIELD", no_such_column(name, self.sobject), status=400)
        return column

    def _peek_word(self, word: str) -> bool:
        return (self.pos < len(self.tokens) and self.tokens[self.pos][0] == "word"
                and str(self.tokens[self.pos][1]).upper() == word)

    def _peek_symbol(self, symbol: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos] == ("sym", symbol)

    def _next(self) -> tuple[str, Any]:
        if self.pos >= len(self.tokens):
            raise DevOrgError("MALFORMED_QUERY", "unexpected token: '<EOF>'", status=400)
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def _keyword(self, word: str) -> None:
        kind, value = self._next()
        if kind != "word" or str(value).upper() != word:
            raise DevOrgError("MALFORMED_QUERY", f"unexpected token: '{value}'", status=400)

    def _word(self) -> str:
        kind, value = self._next()
        if kind != "word":
            raise DevOrgError("MALFORMED_QUERY", f"unexpected token: '{value}'", status=400)
        return str(value)

    def _symbol(self, symbol: str) -> None:
        if self._next() != ("sym", symbol):
            raise DevOrgError("MALFORMED_QUERY", f"expecting '{symbol}'", status=400)

    def _value(self) -> Any:
        kind, value = self._next()
        if kind in ("str", "num"):
            return value
        if kind == "word" and str(value).lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[str(value).lower()]
        raise DevOrgError("MALFORMED_QUERY", f"unexpected token: '{value}'", status=400)

    def _or(self) -> Predicate:
        parts = [self._and()]
        while self._peek_word("OR"):
            self.pos += 1
            parts.append(self._and())
        return parts[0] if len(parts) == 1 else (lambda row: any(p(row) for p in parts))

    def _and(self) -> Predicate:
        parts = [self._not()]
        while self._peek_word("AND"):
            self.pos += 1
            parts.append(self._not())
        return parts[0] if len(parts) == 1 else (lambda row: all(p(row) for p in parts))

    def _not(self) -> Predicate:
        if self._peek_word("NOT"):
            self.pos += 1
            inner = self._not()
            return lambda row: not inner(row)
        if self._peek_symbol("("):
            self.pos += 1
            inner = self._or()
            self._symbol(")")
            return inner
        return self._comparison()

    def _comparison(self) -> Predicate:
        column = self._column(self._word())
        _, op = self._next()
        op = str(op).upper()
        if op == "NOT" and self._peek_word("IN"):
            self.pos += 1
            op = "NOT IN"
        if op in ("IN", "NOT IN"):
            self._symbol("(")
            values = [self._value()]
            while self._peek_symbol(","):
                self.pos += 1
                values.append(self._value())
            self._symbol(")")
            wanted = {_fold(v) for v in values}
            negate = op == "NOT IN"
            return lambda row: (_fold(row.get(column)) in wanted) != negate
        value = self._value()
        if op == "LIKE":
            pattern = re.compile("^" + re.escape(str(value)).replace("%", ".*").replace("_", ".")
                                 + "$", re.IGNORECASE | re.DOTALL)
            return lambda row: row.get(column) is not None and bool(
                pattern.match(str(row[column])))
        compare = {"=": lambda a, b: a == b, "!=": lambda a, b: a != b,
                   "<>": lambda a, b: a != b, "<": lambda a, b: a < b,
                   "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
                   ">=": lambda a, b: a >= b}.get(op)
        if compare is None:
            raise DevOrgError("MALFORMED_QUERY", f"unexpected token: '{op}'", status=400)
        target = _fold(value)

        def check(row: dict[str, Any]) -> bool:
            current = _fold(row.get(column))
            if op in ("=", "!=", "<>"):
                return bool(compare(current, target))
            if current is None or target is None:
                return False
            try:
                return bool(compare(current, target))
            except TypeError:
                return False

        return check

    def run(self) -> tuple[int, list[dict[str, Any]]]:
        rows = [r for r in self.data.rows(self.sobject) if self.where(r)]
        if self.order:
            column, descending = self.order
            present = [r for r in rows if r.get(column) is not None]
            missing = [r for r in rows if r.get(column) is None]
            present.sort(key=lambda r: _fold(r[column]), reverse=descending)
            rows = present + missing if descending else missing + present
        rows = rows[self.offset:]
        if self.limit is not None:
            rows = rows[: self.limit]
        return len(rows), rows


def _fold(value: Any) -> Any:
    """Compare strings case-insensitively (and 15/18-char ids alike), as SOQL does."""
    if isinstance(value, str):
        if len(value) in (15, 18) and value[:3].isalnum():
            try:
                return normalize_id(value).lower()
            except DevOrgError:
                pass
        return value.lower()
    return value


def install_tooling(api: RestApi) -> None:
    """Add the Tooling resources to a REST dispatcher."""
    Tooling(api)


class Tooling:
    def __init__(self, api: RestApi) -> None:
        self.api = api
        self.data = ToolingData(api)
        api.route(r"tooling", GET=self.directory)
        api.route(r"tooling/query", GET=self.query)
        api.route(r"tooling/sobjects", GET=self.describe_global)
        api.route(r"tooling/sobjects/([A-Za-z0-9_]+)", GET=self.basic_info, POST=self.create)
        api.route(r"tooling/sobjects/([A-Za-z0-9_]+)/describe", GET=self.describe)
        api.route(r"tooling/sobjects/([A-Za-z0-9_]+)/([A-Za-z0-9]{15,18})", GET=self.retrieve,
                  DELETE=self.delete)

    def _name(self, name: str) -> str:
        sobject = next((k for k in _FIELDS if k.lower() == name.lower()), None)
        if sobject is None:
            raise DevOrgError("NOT_FOUND", "The requested resource does not exist", status=404)
        return sobject

    def _url(self, version: str, sobject: str, record_id: str | None = None) -> str:
        base = f"/services/data/v{version}/tooling/sobjects/{sobject}"
        return f"{base}/{record_id}" if record_id else base

    def _entry(self, version: str, sobject: str) -> dict[str, Any]:
        writable = sobject in _WRITABLE
        base = self._url(version, sobject)
        return {"activateable": False, "createable": writable, "custom": False,
                "customSetting": False, "deletable": writable, "deprecatedAndHidden": False,
                "feedEnabled": False, "keyPrefix": _KEY_PREFIXES[sobject], "label": sobject,
                "labelPlural": sobject + "s", "layoutable": False, "mergeable": False,
                "mruEnabled": False, "name": sobject, "queryable": True,
                "replicateable": False, "retrieveable": True, "searchable": False,
                "triggerable": False, "undeletable": False, "updateable": writable,
                "urls": {"rowTemplate": f"{base}/{{ID}}", "describe": f"{base}/describe",
                         "sobject": base}}

    def directory(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        v = f"/services/data/v{request.version}/tooling"
        return RestResult(200, {"query": f"{v}/query", "sobjects": f"{v}/sobjects"})

    def describe_global(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        return RestResult(200, {"encoding": "UTF-8", "maxBatchSize": 200,
                                "sobjects": [self._entry(request.version, s) for s in _FIELDS]})

    def basic_info(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._name(match.group(1))
        return RestResult(200, {"objectDescribe": self._entry(request.version, sobject),
                                "recentItems": []})

    def describe(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._name(match.group(1))
        body = self._entry(request.version, sobject)
        body["fields"] = [{"name": f, "label": f, "type": _field_type(f),
                           "nillable": f not in ("Id", "Name", "Body")}
                          for f in _FIELDS[sobject]]
        return RestResult(200, body)

    def _shape(self, version: str, sobject: str, row: dict[str, Any],
               fields: list[str] | None) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": {"type": sobject,
                                                 "url": self._url(version, sobject, row["Id"])}}
        for f in fields or list(_FIELDS[sobject]):
            record[f] = row.get(f)
        return record

    def query(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        soql = request.params.get("q")
        if not soql or not soql.strip():
            raise DevOrgError("MALFORMED_QUERY", "A query string has to be specified",
                              status=400)
        parsed = _ToolingQuery(soql, self.data)
        total, rows = parsed.run()
        records = [] if parsed.count else [
            self._shape(request.version, parsed.sobject, r, parsed.fields) for r in rows]
        return RestResult(200, {"size": total, "totalSize": total, "done": True,
                                "queryLocator": None, "entityTypeName": parsed.sobject,
                                "records": records})

    def retrieve(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._name(match.group(1))
        record_id = normalize_id(match.group(2))
        for row in self.data.rows(sobject):
            if row["Id"] == record_id:
                return RestResult(200, self._shape(request.version, sobject, row, None))
        raise DevOrgError("NOT_FOUND", "The requested resource does not exist", status=404)

    def create(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._name(match.group(1))
        record_id = self.data.create(sobject, record_values(json_object(request)))
        return RestResult(201, {"id": record_id, "success": True, "errors": [],
                                "warnings": [], "infos": []})

    def delete(self, request: RestRequest, match: re.Match[str]) -> RestResult:
        sobject = self._name(match.group(1))
        self.data.delete(sobject, normalize_id(match.group(2)))
        return RestResult(204)


def _field_type(name: str) -> str:
    if name == "Id":
        return "id"
    if name.endswith("ById"):
        return "reference"
    if name.endswith("Date") or name == "SystemModstamp":
        return "datetime"
    if name.startswith(("Is", "Usage")):
        return "boolean"
    if name in ("ApiVersion", "BodyCrc"):
        return "double"
    if name == "LengthWithoutComments":
        return "int"
    return "string"
