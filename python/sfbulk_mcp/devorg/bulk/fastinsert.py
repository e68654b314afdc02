"""Inserting many rows at once: the store's checks per row, one `executemany` per chunk.

`Store.create` costs tens of microseconds a row, mostly in per-call set-up; a million-row
insert job would take minutes. This adapter makes the same checks (the store's value
coercion, required fields, reference check and derived fields, with the field lookups
prepared once per object) and writes a chunk of rows with one statement. A constraint
violation in the chunk sends the chunk back to `Store.create`, row by row, so each row still
gets the store's own error. `tests/devorg_bulk/test_fast_insert.py` holds both paths to the
same answers.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sfbulk_mcp.devorg.catalog import FieldDef, SObjectDef
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.ids import make_ids
from sfbulk_mcp.devorg.store import Store, coerce_value, plain_text_rule, utc_now_text


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str | int) -> str:
    """An SQL literal for a value the devorg made itself (a time, an Id, a default)."""
    if isinstance(value, int):
        return str(int(value))
    return "'" + value.replace("'", "''") + "'"


# Fields every insert sets itself; a cell for one of them sends its row through `insert`.
_SYSTEM_FIELDS = frozenset({"Id", "IsDeleted", "OwnerId", "CreatedDate", "CreatedById",
                            "LastModifiedDate", "LastModifiedById", "SystemModstamp"})
_NUMBER_TYPES = frozenset({"double", "currency", "percent"})

# One column's check in the engine's ingest table: (kind, required, max characters, allowed
# values, precision, scale); see `IngestTable.prepare`.
Rule = tuple[str, bool, int, list[str] | None, int | None, int]


@dataclass(frozen=True)
class TablePlan:
    """How the rows of an insert upload are checked and stored without `insert`'s per-row
    Python: the engine checks each column against `rules`, and every row that passes is bound
    as `(rid, Id, *cells of the columns in slots)`, an empty cell giving the slot's default.
    The other columns get the same value in every row of a chunk: the time (`stamped`), the
    user (`by_user`) or a constant (`fixed`: defaults, IsDeleted).
    """

    table: str
    rules: list[Rule]
    slots: list[int]
    slot_fields: list[str]
    defaults: list[Any]
    stamped: list[str]
    by_user: list[str]
    fixed: dict[str, str | int]

    def shared(self, now: str, user_id: str) -> dict[str, str | int]:
        """The values every row of a chunk gets, by field."""
        return {**dict.fromkeys(self.stamped, now), **dict.fromkeys(self.by_user, user_id),
                **self.fixed}

    def statement(self, now: str, user_id: str) -> str:
        """The INSERT for one chunk of rows, its shared values written in."""
        shared = self.shared(now, user_id)
        marks = ["?"] * (2 + len(self.slot_fields)) + [_literal(v) for v in shared.values()]
        return self._insert(list(shared), marks)

    def bound_statement(self) -> tuple[str, int]:
        """The INSERT taking every value as a parameter — `(rid, Id, *slot values,
        *shared values)` — and how many it takes."""
        shared = self.shared("", "")
        marks = ["?"] * (2 + len(self.slot_fields) + len(shared))
        return self._insert(list(shared), marks), len(marks)

    def _insert(self, shared: list[str], marks: list[str]) -> str:
        names = ["rid", "Id", *self.slot_fields, *shared]
        return (f"INSERT INTO {_quote(self.table)} ("
                + ", ".join(_quote(n) for n in names) + ") VALUES (" + ", ".join(marks) + ")")


class FastInserter:
    """Inserts rows of one sObject type in chunks; per-row outcomes like `Store.create`."""

    def __init__(self, store: Store, sobject: SObjectDef) -> None:
        self.store = store
        self.sobject = sobject
        self.columns = [f.name for f in sobject.stored_fields()]
        self._known = {name.lower() for name in self.columns}
        self._statements: dict[tuple[str, ...], str] = {}
        self.defaults: dict[str, Any] = {}
        for field in sobject.fields:
            if not field.stored:
                continue
            if field.default_value is not None and field.type == "boolean":
                self.defaults[field.name] = 1 if field.default_value else 0
            elif field.default_picklist is not None:
                self.defaults[field.name] = field.default_picklist
        self.fields = {f.name.lower(): f for f in sobject.fields}
        self._by_key: dict[str, FieldDef | None] = {}
        self._plain_text = {f.name: rule for f in sobject.fields
                            if (rule := plain_text_rule(f)) is not None}
        self.required = [f.name for f in sobject.fields if f.required]
        self.references = {f.name for f in sobject.fields if f.type == "reference"}
        self.has_is_deleted = sobject.field("IsDeleted") is not None
        self.has_owner = sobject.field("OwnerId") is not None

    def insert(
        self, rows: Sequence[dict[str, Any]], user_id: str
    ) -> list[str | DevOrgError]:
        """Insert `rows` (field → cell text or None) inside the caller's transaction.

        Returns, per row, the new record's Id or the DevOrgError that kept it out.
        """
        store, sobject = self.store, self.sobject
        if not sobject.createable:
            error = DevOrgError("INVALID_TYPE_FOR_OPERATION",
                                f"entity type {sobject.name} does not support create")
            return [error for _ in rows]
        conn = store._conn()
        now = utc_now_text(store.now())
        outcomes: list[str | DevOrgError] = []
        prepared: list[tuple[int, int, dict[str, Any]]] = []
        prefix = sobject.key_prefix
        first = store.ids.reserve(prefix, len(rows))
        ids = make_ids(prefix, first, len(rows))
        for index, values in enumerate(rows):
            sequence = first + index
            try:
                row = self.validate(values)
                if self.references.intersection(row):
                    store._check_references(conn, sobject, row)
            except DevOrgError as exc:
                outcomes.append(exc)
                continue
            for name, value in self.defaults.items():
                row.setdefault(name, value)
            record_id = ids[index]
            row.update(Id=record_id, CreatedDate=now, LastModifiedDate=now,
                       SystemModstamp=now, CreatedById=user_id, LastModifiedById=user_id)
            if self.has_is_deleted:
                row["IsDeleted"] = 0
            if self.has_owner and row.get("OwnerId") is None:
                row["OwnerId"] = user_id
            store._derive(conn, sobject, row, None)
            outcomes.append(record_id)
            prepared.append((index, sequence, row))
        self._write(conn, prepared, rows, user_id, outcomes)
        return outcomes

    def table_plan(self, fields: Sequence[FieldDef]) -> TablePlan | None:
        """The engine-side plan for an upload whose header names `fields` (in order), or None
        when its rows need `insert` (the object derives fields, or a required field has no
        column).

        The plan holds `insert` to the same answers: rows it cannot vouch for (a cell of a
        type the engine does not check, a system field, a value out of bounds) go through
        `insert`; `test_table_insert_matches_fast_insert` compares the two.
        """
        sobject = self.sobject
        names = [f.name for f in fields]
        must_hold = self.store.underived_insert(sobject, names)
        if not sobject.createable or must_hold is None or any(
                name not in names for name in self.required):
            return None
        rules: list[Rule] = []
        slots: list[int] = []
        for index, field in enumerate(fields):
            if field.stored and field.createable and field.name not in _SYSTEM_FIELDS:
                slots.append(index)
                rules.append(_rule(field, field.required or field.name in must_hold))
            else:
                rules.append(("defer", False, 0, None, None, 0))
        slot_fields = [names[i] for i in slots]
        stored = set(self.columns)
        stamped: list[str] = [n for n in ("CreatedDate", "LastModifiedDate", "SystemModstamp")
                              if n in stored]
        by_user: list[str] = [n for n in ("CreatedById", "LastModifiedById") if n in stored]
        if self.has_owner:
            by_user.append("OwnerId")
        fixed: dict[str, str | int] = {"IsDeleted": 0} if self.has_is_deleted else {}
        for name, value in self.defaults.items():
            if name not in slot_fields and name not in fixed and name not in by_user:
                fixed[name] = value
        return TablePlan(sobject.table, rules, slots, slot_fields,
                         [self.defaults.get(name) for name in slot_fields], stamped, by_user,
                         fixed)

    def validate(self, values: dict[str, Any]) -> dict[str, Any]:
        """Check and coerce one row's values exactly as `Store.validate_values` does on insert.

        Done here with lookups prepared once per object, since the store's version walks the
        whole field list on every call. `test_fast_insert_matches_store_create` holds the two
        to the same answers.
        """
        by_key, plain_text = self._by_key, self._plain_text
        row: dict[str, Any] = {}
        not_writable: list[str] = []
        for key, value in values.items():
            if key not in by_key:
                by_key[key] = self.fields.get(key.lower())
            field = by_key[key]
            if field is None:
                # Anything unusual (unknown names): the store's own words.
                return self.store.validate_values(self.sobject.name, values, for_insert=True)
            if not field.createable:
                not_writable.append(field.name)
                continue
            rule = plain_text.get(field.name)
            if rule is not None and type(value) is str and value and len(value) <= rule[0] and (
                    rule[1] is None or value in rule[1]):
                # coerce_value's own shortcut, without the call.
                row[field.name] = value
            else:
                row[field.name] = coerce_value(field, value)
        if not_writable:
            return self.store.validate_values(self.sobject.name, values, for_insert=True)
        missing = [name for name in self.required if row.get(name) is None]
        if missing:
            raise DevOrgError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                fields=missing,
            )
        return row

    def _statement(self, columns: tuple[str, ...]) -> str:
        """The INSERT naming `columns` (the others keep their default, null)."""
        sql = self._statements.get(columns)
        if sql is None:
            sql = (f"INSERT INTO {_quote(self.sobject.table)} (rid, "
                   + ", ".join(_quote(c) for c in columns)
                   + ") VALUES (" + ", ".join(["?"] * (len(columns) + 1)) + ")")
            self._statements[columns] = sql
        return sql

    def _write(self, conn: sqlite3.Connection,
               prepared: list[tuple[int, int, dict[str, Any]]],
               rows: Sequence[dict[str, Any]], user_id: str,
               outcomes: list[str | DevOrgError]) -> None:
        if not prepared:
            return
        # Only the columns some row sets: binding dozens of nulls per row costs more than the
        # insert itself.
        present = set().union(*(row for _, _, row in prepared))
        columns = tuple(c for c in self.columns if c in present)
        conn.execute("SAVEPOINT bulk_chunk")
        try:
            conn.executemany(self._statement(columns),
                             [(seq, *map(row.get, columns)) for _, seq, row in prepared])
        except sqlite3.IntegrityError:
            # A duplicate value (or an Id another store handed out) somewhere in the chunk:
            # undo it and let the store insert those rows one by one, with its own errors
            # and retries.
            conn.execute("ROLLBACK TO bulk_chunk")
            for index, _, _ in prepared:
                try:
                    outcomes[index] = self.store.create(self.sobject.name, rows[index],
                                                        user_id=user_id)
                except DevOrgError as exc:
                    outcomes[index] = exc
        conn.execute("RELEASE bulk_chunk")


def _rule(field: FieldDef, required: bool) -> Rule:
    """The engine's check for one field: the cases `coerce_value` decides simply."""
    text = plain_text_rule(field)
    if text is not None:
        length, allowed = text
        return ("text", required, length, None if allowed is None else sorted(allowed), None, 0)
    if field.type == "int":
        return ("int", required, 0, None, None, 0)
    if field.type in _NUMBER_TYPES and (not field.precision or field.precision >= field.scale):
        return ("double", required, 0, None, field.precision or None, field.scale)
    if field.type == "boolean":
        return ("boolean", required, 0, None, None, 0)
    return ("defer", required, 0, None, None, 0)
