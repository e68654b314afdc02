"""What the server remembers about an org's schema, and the SOQL checks it makes possible.

`learn` stores objects, fields and relationships in a JSON file per org, adding to what is
already known (incremental). Queries are checked against it before they are sent: a field
that does not exist is reported with "did you mean" suggestions instead of a round trip that
costs an API call. Objects not learned yet are never a reason to refuse a query.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Protocol

import orjson

# Learned by default: the objects most prompts are about.
COMMON_OBJECTS = ("Account", "Contact", "Lead", "Opportunity", "Case", "User", "Task", "Event")


class DescribeSource(Protocol):
    async def describe_global(self) -> Mapping[str, Any]: ...

    async def describe(self, sobject: str) -> Mapping[str, Any]: ...


def compact_object(describe: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an object describe worth remembering."""
    fields: dict[str, Any] = {}
    for f in describe.get("fields", []):
        entry: dict[str, Any] = {"type": f.get("type"), "label": f.get("label")}
        if f.get("custom"):
            entry["custom"] = True
        if f.get("referenceTo"):
            entry["referenceTo"] = list(f["referenceTo"])
        if f.get("relationshipName"):
            entry["relationshipName"] = f["relationshipName"]
        if f.get("nillable") is False and f.get("createable") and not f.get("defaultedOnCreate"):
            entry["required"] = True
        if f.get("externalId"):
            entry["externalId"] = True
        fields[f["name"]] = entry
    children = [
        {"relationshipName": c["relationshipName"], "childSObject": c.get("childSObject"),
         "field": c.get("field")}
        for c in describe.get("childRelationships", [])
        if c.get("relationshipName")
    ]
    return {
        "name": describe.get("name"),
        "label": describe.get("label"),
        "custom": bool(describe.get("custom")),
        "keyPrefix": describe.get("keyPrefix"),
        "fields": fields,
        "childRelationships": children,
        "learnedAt": time.time(),
    }


class SchemaMemory:
    """The learned schema of one org, kept in `path` (JSON)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._data: dict[str, Any] = {"objects": {}, "global": None}
        if path.exists():
            try:
                self._data = orjson.loads(path.read_bytes())
            except orjson.JSONDecodeError:
                pass  # a damaged cache is only a cache: start again

    @classmethod
    def for_org(cls, directory: Path, org_key: str) -> SchemaMemory:
        digest = hashlib.sha256(org_key.encode()).hexdigest()[:24]
        return cls(directory / f"{digest}.json")

    # -- reading -------------------------------------------------------------------------
    def object(self, name: str) -> dict[str, Any] | None:
        objects: dict[str, Any] = self._data["objects"]
        for key, value in objects.items():
            if key.lower() == name.lower():
                return dict(value)
        return None

    @property
    def learned_objects(self) -> list[str]:
        return sorted(self._data["objects"])

    @property
    def global_objects(self) -> list[dict[str, Any]]:
        return list(self._data.get("global") or [])

    # -- learning ------------------------------------------------------------------------
    async def learn(
        self, source: DescribeSource, objects: Iterable[str] | None = None, *, refresh: bool = False
    ) -> tuple[list[str], list[str]]:
        """Describe `objects` (default: common + custom ones) not known yet; returns
        (newly learned, skipped because already known)."""
        if refresh or not self._data.get("global"):
            answer = await source.describe_global()
            self._data["global"] = [
                {"name": o["name"], "label": o.get("label"), "custom": bool(o.get("custom")),
                 "keyPrefix": o.get("keyPrefix"), "queryable": o.get("queryable", True)}
                for o in answer.get("sobjects", [])
            ]
        known = {o["name"].lower(): o["name"] for o in self.global_objects}
        if objects is None:
            wanted = [n for n in COMMON_OBJECTS if n.lower() in known]
            wanted += [o["name"] for o in self.global_objects if o["custom"]][:50]
        else:
            wanted = [known.get(n.lower(), n) for n in objects]
        learned: list[str] = []
        skipped: list[str] = []
        for name in dict.fromkeys(wanted):
            if not refresh and self.object(name) is not None:
                skipped.append(name)
                continue
            describe = await source.describe(name)
            with self._lock:
                self._data["objects"][describe.get("name", name)] = compact_object(describe)
            learned.append(describe.get("name", name))
        self.save()
        return learned, skipped

    def remember(self, describe: Mapping[str, Any]) -> None:
        """Keep a describe fetched for another reason (e.g. describe_object)."""
        with self._lock:
            self._data["objects"][describe.get("name")] = compact_object(describe)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".part")
        with self._lock:
            tmp.write_bytes(orjson.dumps(self._data))
        os.replace(tmp, self.path)

    # -- checking ------------------------------------------------------------------------
    def check_soql(self, soql: str) -> list[str]:
        """Problems with the field names of a SOQL query, each with suggestions."""
        parsed = _select_fields(soql)
        if parsed is None:
            return []
        obj_name, fields = parsed
        obj = self.object(obj_name)
        if obj is None:
            return []
        problems: list[str] = []
        for path in dict.fromkeys(fields):
            problem = self._check_path(obj, path)
            if problem:
                problems.append(problem)
        return problems

    def _check_path(self, obj: dict[str, Any], path: str) -> str | None:
        parts = path.split(".")
        fields: dict[str, Any] = obj["fields"]
        lower = {k.lower(): k for k in fields}
        if len(parts) == 1:
            if parts[0].lower() in lower:
                return None
            return _unknown(parts[0], obj["name"], list(fields))
        rel = parts[0]
        relationships = {
            (v.get("relationshipName") or "").lower(): v for v in fields.values()
            if v.get("relationshipName")
        }
        target = relationships.get(rel.lower())
        if target is None:
            names = [v["relationshipName"] for v in fields.values() if v.get("relationshipName")]
            return _unknown(rel, obj["name"], names, kind="relationship")
        if len(parts) == 2 and len(target.get("referenceTo", [])) == 1:
            parent = self.object(target["referenceTo"][0])
            if parent is not None:
                return self._check_path(parent, parts[1])
        return None


def _unknown(name: str, obj: str, candidates: list[str], kind: str = "field") -> str:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[m] for m in difflib.get_close_matches(name.lower(), list(lowered), n=3)]
    hint = f" — did you mean {', '.join(close)}?" if close else ""
    return f"No {kind} {name} on {obj}{hint}"


_SELECT = re.compile(
    r"^\s*SELECT\s+(.*?)\s+FROM\s+([A-Za-z_][A-Za-z0-9_]*)(.*)$", re.IGNORECASE | re.DOTALL
)
_FUNC = re.compile(r"^([A-Za-z_]+)\s*\((.*)\)(\s+\w+)?$", re.DOTALL)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")
_CONDITION = re.compile(
    r"(?<![\w.:])([A-Za-z_][A-Za-z0-9_.]*)\s*(?:!=|<>|<=|>=|=|<|>|\bNOT\s+LIKE\b|\bLIKE\b"
    r"|\bNOT\s+IN\b|\bIN\b|\bINCLUDES\b|\bEXCLUDES\b)",
    re.IGNORECASE,
)
_CLAUSE_END = r"(?=\bGROUP\s+BY\b|\bORDER\s+BY\b|\bLIMIT\b|\bOFFSET\b|\bFOR\b|\bWITH\b|\bHAVING\b|$)"
_KEYWORDS = frozenset({"and", "or", "not", "null", "true", "false", "asc", "desc", "nulls",
                       "first", "last"})


def _flatten(soql: str) -> str:
    """`soql` with string literals emptied and subqueries (`(SELECT …)`) reduced to `()`."""
    text = re.sub(r"'(?:\\.|[^'\\])*'", "''", soql)
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "(" and re.match(r"\(\s*SELECT\b", text[index:], re.IGNORECASE):
            depth = 0
            while index < len(text):
                if text[index] == "(":
                    depth += 1
                elif text[index] == ")":
                    depth -= 1
                    if depth == 0:
                        break
                index += 1
            out.append("()")
        else:
            out.append(char)
        index += 1
    return "".join(out)


def _select_fields(soql: str) -> tuple[str, list[str]] | None:
    """(object, field paths named in the top-level SELECT, WHERE and ORDER BY); None when the
    query is not one this check understands (TYPEOF)."""
    match = _SELECT.match(_flatten(soql))
    if not match:
        return None
    select, obj, rest = match.group(1), match.group(2), match.group(3)
    if re.search(r"\bTYPEOF\b", select, re.IGNORECASE):
        return None
    fields: list[str] = []
    aliases: set[str] = set()
    for item in select.split(","):
        item = item.strip()
        if not item or item == "()":
            continue
        func = _FUNC.match(item)
        if func:
            if func.group(3):
                aliases.add(func.group(3).strip().lower())
            inner = func.group(2).strip()
            # FIELDS(ALL) names a set, not a field; COUNT() names nothing.
            if func.group(1).upper() != "FIELDS" and _IDENT.fullmatch(inner):
                fields.append(inner)
            continue
        first = item.split()[0]
        if _IDENT.fullmatch(first):
            fields.append(first)
    where = re.search(r"\bWHERE\b(.*?)" + _CLAUSE_END, rest, re.IGNORECASE | re.DOTALL)
    if where:
        fields += [m.group(1) for m in _CONDITION.finditer(where.group(1))]
    order = re.search(r"\bORDER\s+BY\b(.*?)(?=\bLIMIT\b|\bOFFSET\b|\bFOR\b|$)", rest,
                      re.IGNORECASE | re.DOTALL)
    if order:
        for item in order.group(1).split(","):
            words = item.split()
            if words and _IDENT.fullmatch(words[0]) and "(" not in item:
                fields.append(words[0])
    return obj, [
        f for f in fields if f.lower() not in _KEYWORDS and f.lower() not in aliases
    ]
