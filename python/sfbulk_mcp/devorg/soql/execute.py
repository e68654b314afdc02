"""Run compiled SOQL on the store: REST records for /query, value tuples for Bulk."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from ..store import QueryResult, rest_value
from .compiler import (
    PARENT_IDS,
    AddressOut,
    ChildOut,
    Compiler,
    FieldOut,
    ParentOut,
    Plan,
    Shape,
    TypeOfOut,
)
from .formats import format_value
from .parser import malformed, parse_soql

if TYPE_CHECKING:
    from ..catalog import FieldDef
    from ..store import Store

_CHILD_BATCH = 500
# Results up to one REST page (2000 records) come back as a plain list of dicts.
EAGER_RECORDS = 2000
_ADDRESS_KEYS = ["street", "city", "state", "postalCode", "country", "latitude", "longitude",
                 "geocodeAccuracy"]


def compile_query(store: Store, soql: str, *, include_deleted: bool,
                  for_bulk: bool, user_id: str | None = None) -> Plan:
    """Parse and compile SOQL against the store's catalog, run as `user_id` (the admin
    user by default, as for writes)."""
    query = parse_soql(soql)
    compiler = Compiler(store.catalog, query, today=store.now().date(),
                        include_deleted=include_deleted, for_bulk=for_bulk,
                        user_id=user_id or store.admin_user_id)
    return compiler.compile()


def run_query(store: Store, soql: str, *, include_deleted: bool,
              api_version: str, user_id: str | None = None) -> QueryResult:
    """Run SOQL and build REST-shaped records."""
    plan = compile_query(store, soql, include_deleted=include_deleted, for_bulk=False,
                         user_id=user_id)
    conn = store._conn()
    if plan.count_only:
        total = int(conn.execute(plan.sql, plan.params).fetchone()[0])
        return QueryResult([], total, [])
    rows = conn.execute(plan.sql, plan.params).fetchall()
    builder = _Builder(store, api_version)
    if not plan.aggregate and not plan.children:
        def build(row: tuple[Any, ...]) -> dict[str, Any]:
            return builder.record(plan.obj.name, row[plan.id_col or 0], plan.shape, row)

        if len(rows) <= EAGER_RECORDS:
            return QueryResult([build(row) for row in rows], len(rows), plan.columns)
        # A large result keeps only its row tuples; the REST layer shapes the pages it sends.
        return QueryResult(RecordList(rows, build), len(rows), plan.columns)
    children: list[dict[str, list[dict[str, Any]]]] = []
    for child in plan.children:
        children.append(_fetch_children(conn, builder, plan, child, rows))
    records = []
    for row in rows:
        if plan.aggregate:
            record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
            builder.fill(record, plan.shape, row)
        else:
            record = builder.record(plan.obj.name, row[plan.id_col] if plan.id_col is not None
                                    else None, plan.shape, row)
            for child, found in zip(plan.children, children):
                items = found.get(row[plan.id_col or 0])
                record[child.key] = (
                    None if not items
                    else {"totalSize": len(items), "done": True, "records": items}
                )
        records.append(record)
    return QueryResult(records, len(records), plan.columns)


class RecordList(Sequence[dict[str, Any]]):
    """REST records built on access from result rows; slices are plain lists."""

    def __init__(self, rows: list[tuple[Any, ...]],
                 build: Callable[[tuple[Any, ...]], dict[str, Any]]) -> None:
        self._rows = rows
        self._build = build

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [self._build(row) for row in self._rows[index]]
        return self._build(self._rows[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return map(self._build, self._rows)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (list, tuple, RecordList)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RecordList({len(self._rows)} records)"


def _fetch_children(conn: Any, builder: _Builder, parent: Plan, child: ChildOut,
                    rows: list[tuple[Any, ...]]) -> dict[str, list[dict[str, Any]]]:
    plan = child.plan
    assert parent.id_col is not None and plan.fk_col is not None and plan.id_col is not None
    ids = [r[parent.id_col] for r in rows]
    found: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), _CHILD_BATCH):
        chunk = ids[start:start + _CHILD_BATCH]
        sql = plan.sql.replace(PARENT_IDS, ", ".join("?" * len(chunk)))
        for row in conn.execute(sql, [*plan.params, *chunk]):
            bucket = found.setdefault(row[plan.fk_col], [])
            if plan.limit is not None and len(bucket) >= plan.limit:
                continue
            bucket.append(builder.record(plan.obj.name, row[plan.id_col], plan.shape, row))
    return found


class _Builder:
    """Turns result rows into REST records following a Shape."""

    def __init__(self, store: Store, api_version: str) -> None:
        self.store = store
        self.version = api_version

    def attributes(self, sobject: str, record_id: str | None) -> dict[str, Any]:
        attrs: dict[str, Any] = {"type": sobject}
        if record_id is not None:
            attrs["url"] = f"/services/data/v{self.version}/sobjects/{sobject}/{record_id}"
        return attrs

    def record(self, sobject: str, record_id: str | None, shape: Shape,
               row: tuple[Any, ...]) -> dict[str, Any]:
        record: dict[str, Any] = {"attributes": self.attributes(sobject, record_id)}
        self.fill(record, shape, row)
        return record

    def fill(self, record: dict[str, Any], shape: Shape, row: tuple[Any, ...]) -> None:
        for key, entry in shape.entries.items():
            if isinstance(entry, FieldOut):
                value = row[entry.col]
                if value is None:
                    record[key] = None
                elif entry.kind == "int":
                    record[key] = int(value)
                elif entry.kind == "float":
                    record[key] = float(value)
                elif entry.kind == "format":
                    record[key] = format_value(entry.fdef, value)
                elif entry.fdef is not None:
                    record[key] = rest_value(entry.fdef, value)
                else:
                    record[key] = value
            elif isinstance(entry, AddressOut):
                parts = {k: row[c] for k, c in zip(_ADDRESS_KEYS, entry.cols)}
                record[key] = (None if all(v is None for v in parts.values())
                               else dict(sorted(parts.items())))
            elif isinstance(entry, ParentOut):
                parent_id = row[entry.id_col]
                if parent_id is None:
                    record[key] = None
                    continue
                sobject = entry.sobject or self._type_of(parent_id)
                record[key] = self.record(sobject, parent_id, entry.shape, row)
            elif isinstance(entry, TypeOfOut):
                parent_id = row[entry.id_col]
                if parent_id is None:
                    record[key] = None
                    continue
                match = entry.by_prefix.get(parent_id[:3])
                if match is not None:
                    record[key] = self.record(match[0], parent_id, match[1], row)
                elif entry.else_shape is not None:
                    record[key] = self.record(self._type_of(parent_id), parent_id,
                                              entry.else_shape, row)
                else:
                    record[key] = self.record(self._type_of(parent_id), parent_id, Shape(),
                                              row)
            elif isinstance(entry, ChildOut):
                record[key] = None  # filled in by run_query

    def _type_of(self, record_id: str) -> str:
        obj = self.store.catalog.by_prefix(record_id[:3])
        return obj.name if obj is not None else "Name"


@dataclass(frozen=True)
class BulkSelect:
    """A plain SELECT compiled for Bulk: its columns and the SQL pieces around them."""

    columns: list[str]  # dotted names, in SELECT order
    cells: list[tuple[str, FieldDef | None]]  # each column's SQL expression and field
    tail: str  # `FROM … WHERE … ORDER BY … LIMIT …`
    params: list[Any]
    from_sql: str  # `FROM … LEFT JOIN …`, without the WHERE
    row_key: str  # the base table's rid: one result row per value

    @property
    def select_list(self) -> str:
        """The cells' expressions, comma-separated (``1`` when there are none)."""
        return ", ".join(sql for sql, _ in self.cells) or "1"


def compile_bulk_select(store: Store, soql: str, *, include_deleted: bool,
                        user_id: str | None = None) -> BulkSelect:
    """Compile a plain SELECT for Bulk; MALFORMED_QUERY for what Bulk does not run."""
    plan = compile_query(store, soql, include_deleted=include_deleted, for_bulk=True,
                         user_id=user_id)
    q = plan.query
    if plan.aggregate or plan.count_only or plan.children or q.uses_typeof:
        raise malformed(q.text, q.from_pos, "Aggregate, child-relationship and TYPEOF queries "
                        "are not supported in Bulk Query")
    # Exactly the visible columns, in SELECT order, so rows need no reshaping.
    cells = [(plan.select_cols[index], fdef) for index, fdef in plan.bulk_cols]
    return BulkSelect(list(plan.columns), cells, plan.sql[plan.sql.index(" FROM ") + 1:],
                      plan.params, plan.from_sql, f"{plan.base}.rid")


def stream_rows(store: Store, soql: str, *, include_deleted: bool,
                user_id: str | None = None) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """Compile a plain SELECT for Bulk and stream its rows as tuples of Python values."""
    select = compile_bulk_select(store, soql, include_deleted=include_deleted,
                                 user_id=user_id)
    conn = store.connect()
    try:
        cursor = conn.execute(f"SELECT {select.select_list} {select.tail}", select.params)
    except Exception:
        conn.close()
        raise
    return select.columns, _iterate(conn, cursor, boolean_columns(select))


def boolean_columns(select: BulkSelect) -> list[int]:
    """Positions of the boolean fields, stored as 0/1 and written as false/true."""
    return [i for i, (_, fdef) in enumerate(select.cells)
            if fdef is not None and fdef.type == "boolean"]


def as_booleans(row: tuple[Any, ...], positions: list[int]) -> tuple[Any, ...]:
    """The row with its boolean columns as Python bools (None stays None)."""
    for convert in map(_bool_converter, positions):
        row = convert(row)
    return row


def _bool_converter(index: int) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """Rewrites one 0/1 column of a row tuple as a Python bool (slicing stays in C)."""
    def convert(row: tuple[Any, ...]) -> tuple[Any, ...]:
        value = row[index]
        if value is None:
            return row
        return row[:index] + (value == 1,) + row[index + 1:]

    return convert


def _iterate(conn: Any, cursor: Any, booleans: list[int]) -> Iterator[tuple[Any, ...]]:
    converters = [_bool_converter(i) for i in booleans]
    try:
        while True:
            rows = cursor.fetchmany(4096)
            if not rows:
                return
            for convert in converters:
                rows = list(map(convert, rows))
            yield from rows
    finally:
        conn.close()
