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
from typing import Any

from sfbulk_mcp.devorg.catalog import FieldDef, SObjectDef
from sfbulk_mcp.devorg.errors import DevOrgError
from sfbulk_mcp.devorg.ids import make_ids
from sfbulk_mcp.devorg.store import Store, coerce_value, plain_text_rule, utc_now_text


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
