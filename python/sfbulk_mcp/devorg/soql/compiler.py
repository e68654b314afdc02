"""Compile a SOQL syntax tree to one parameterized SQLite statement plus a record shape."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..catalog import ID_TYPES, NUMBER_TYPES, FieldDef, SObjectDef
from ..errors import DevOrgError, no_such_column
from ..ids import is_valid_id, normalize_id
from .ast import (
    AGGREGATES,
    DATE_FUNCTIONS,
    PASSTHROUGH_FUNCTIONS,
    And,
    Comparison,
    Condition,
    Expr,
    FieldPath,
    FieldsMacro,
    FuncCall,
    Literal,
    Not,
    Or,
    SelectExpr,
    SoqlQuery,
    SubQuery,
    TypeOf,
)
from .dates import date_range
from .parser import located, malformed

if TYPE_CHECKING:
    from ..catalog import Catalog

MAX_OFFSET = 2000
PARENT_IDS = "/*parent ids*/"
FIELDS_LIMIT = 200


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def invalid_field(query: SoqlQuery, pos: int, reason: str) -> DevOrgError:
    """INVALID_FIELD pointing at ``pos`` in the query text."""
    return DevOrgError("INVALID_FIELD", located(query.text, pos, reason))


def _bad_relationship(query: SoqlQuery, pos: int, name: str) -> DevOrgError:
    return invalid_field(
        query, pos,
        f"Didn't understand relationship '{name}' in field path. If you are attempting to use "
        "a custom relationship, be sure to append the '__r' after the custom relationship "
        "name. Please reference your WSDL or the describe call for the appropriate names.",
    )


_SOAP_NAMES = {"int": "int", "double": "double", "currency": "double", "percent": "double",
               "date": "date", "datetime": "dateTime", "boolean": "boolean", "time": "time"}


# --- record shapes: how SQL result columns become REST records ----------------------------


@dataclass
class FieldOut:
    """A plain value: one SQL column, typed by its field (or by ``kind``)."""
    key: str
    col: int
    fdef: FieldDef | None  # None for computed values (aggregates, date functions)
    kind: str = "field"  # field | int | float | raw


@dataclass
class AddressOut:
    """A compound address built from its part columns."""
    key: str
    cols: list[int]


@dataclass
class ParentOut:
    """A parent record reached through a relationship (``Account``)."""
    key: str  # relationship name as described (Account, Owner, Account__r)
    id_col: int
    sobject: str | None  # None when polymorphic: the type comes from the Id's prefix
    shape: Shape


@dataclass
class TypeOfOut:
    """A TYPEOF relationship: fields depend on the parent's type."""
    key: str
    id_col: int
    by_prefix: dict[str, tuple[str, Shape]]
    else_shape: Shape | None


@dataclass
class ChildOut:
    """A child subquery, fetched for all parents after the main query."""
    key: str
    plan: Plan
    fk: str


@dataclass
class Shape:
    """The entries of one (possibly nested) REST record, in SELECT order."""

    entries: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """A compiled query: SQL, parameters, REST shape, Bulk columns."""

    query: SoqlQuery
    obj: SObjectDef
    sql: str
    params: list[Any]
    shape: Shape
    id_col: int | None
    columns: list[str]
    bulk_cols: list[tuple[int, FieldDef | None]]
    aggregate: bool
    count_only: bool
    children: list[ChildOut]
    limit: int | None
    # For child plans: the SQL column index holding the parent's Id.
    fk_col: int | None = None
    select_cols: list[str] = field(default_factory=list)
    order_terms: list[str] = field(default_factory=list)
    # `FROM table alias LEFT JOIN …` without WHERE, and the base table's alias: enough to
    # select one result row again by the base table's rid.
    from_sql: str = ""
    base: str = ""


@dataclass
class _Join:
    alias: str
    obj: SObjectDef


@dataclass
class _Resolved:
    sql: str
    fdef: FieldDef
    owner: SObjectDef
    hops: list[tuple[str, str, SObjectDef | None, str]]  # (rel key, lookup sql, obj, path)
    key: str


class Compiler:
    """Compiles one SOQL query (and its nested queries) against a catalog."""

    def __init__(self, catalog: Catalog, query: SoqlQuery, *, today: dt.date,
                 include_deleted: bool, for_bulk: bool,
                 aliases: itertools.count[int] | None = None,
                 obj: SObjectDef | None = None,
                 rolled: frozenset[str] | None = None,
                 user_id: str | None = None) -> None:
        self.catalog = catalog
        self.query = query
        self.today = today
        # The user running the query: `USING SCOPE mine` keeps the records they own.
        self.user_id = user_id
        self.include_deleted = include_deleted or query.all_rows
        self.for_bulk = for_bulk
        self.aliases = aliases or itertools.count()
        self.obj = obj or self._from_object()
        self.base = f"t{next(self.aliases)}"
        self.joins: dict[tuple[str, ...], _Join] = {}
        self.join_sql: list[str] = []
        self.cols: list[str] = []
        self.col_index: dict[str, int] = {}
        self.in_having = False
        # ROLLUP / CUBE: the group expressions rolled up in this branch of the union, and
        # whether select / HAVING / ORDER BY expressions are being compiled (WHERE is not).
        self.rolled = rolled
        self.substitute = False

    def _from_object(self) -> SObjectDef:
        obj = self.catalog.find(self.query.from_object)
        if obj is None:
            raise DevOrgError(
                "INVALID_TYPE",
                located(self.query.text, self.query.from_pos,
                        f"sObject type '{self.query.from_object}' is not supported. If you "
                        "are attempting to use a custom object, be sure to append the '__c' "
                        "after the entity name. Please reference your WSDL or the describe "
                        "call for the appropriate names."),
            )
        return obj

    # --- columns and joins ---

    def col(self, sql: str) -> int:
        """The result column index of ``sql``, adding it to the select list once."""
        index = self.col_index.get(sql)
        if index is None:
            index = len(self.cols)
            self.cols.append(sql)
            self.col_index[sql] = index
        return index

    def _join(self, key: tuple[str, ...], target: SObjectDef, on_sql: str) -> _Join:
        join = self.joins.get(key)
        if join is None:
            join = _Join(f"t{next(self.aliases)}", target)
            self.joins[key] = join
            self.join_sql.append(
                f'LEFT JOIN {_q(target.table)} {join.alias} ON {join.alias}."Id" = {on_sql}'
            )
        return join

    def resolve(self, path: FieldPath) -> _Resolved:
        """A field path → SQL expression, its field, and the relationship hops."""
        parts = list(path.parts)
        if len(parts) > 1 and (
            (self.query.from_alias and parts[0].lower() == self.query.from_alias.lower())
            or (parts[0].lower() == self.obj.name.lower()
                and self.obj.reference_by_relationship(parts[0]) is None)
        ):
            parts = parts[1:]
        if len(parts) > 6:
            raise invalid_field(self.query, path.pos,
                                "SOQL statements cannot query more than 5 levels of "
                                "relationships")
        obj = self.obj
        alias = self.base
        hops: list[tuple[str, str, SObjectDef | None, str]] = []
        key: tuple[str, ...] = ()
        for i, rel in enumerate(parts[:-1]):
            ref = obj.reference_by_relationship(rel)
            if ref is None:
                raise _bad_relationship(self.query, path.pos, rel)
            lookup_sql = f"{alias}.{_q(ref.name)}"
            key = key + (rel.lower(),)
            targets = [t for t in (self.catalog.find(n) for n in ref.reference_to) if t]
            if not targets:
                raise _bad_relationship(self.query, path.pos, rel)
            if len(targets) > 1:
                # Polymorphic (Who, What): only the last hop, over fields every target has.
                if i != len(parts) - 2:
                    raise _bad_relationship(self.query, path.pos, parts[i + 1])
                hops.append((ref.relationship_name or rel, lookup_sql, None, ".".join(key)))
                return self._polymorphic(path, parts[-1], targets, key, lookup_sql, hops)
            target = targets[0]
            join = self._join(key, target, lookup_sql)
            hops.append((ref.relationship_name or rel, lookup_sql, target, ".".join(key)))
            obj, alias = target, join.alias
        fdef = obj.field(parts[-1])
        if fdef is None:
            raise invalid_field(self.query, path.pos, no_such_column(parts[-1], obj.name))
        return _Resolved(f"{alias}.{_q(fdef.name)}", fdef, obj, hops, fdef.name)

    def _polymorphic(self, path: FieldPath, name: str, targets: list[SObjectDef],
                     key: tuple[str, ...], lookup_sql: str,
                     hops: list[tuple[str, str, SObjectDef | None, str]]) -> _Resolved:
        if name.lower() == "type":
            cases = " ".join(f"WHEN '{t.key_prefix}' THEN '{t.name}'" for t in targets)
            fdef = FieldDef("Type", "picklist", "Object Type", length=255)
            sql = f"(CASE substr({lookup_sql}, 1, 3) {cases} END)"
            return _Resolved(sql, fdef, targets[0], hops, "Type")
        exprs = []
        fdef_found: FieldDef | None = None
        for target in targets:
            f = target.field(name)
            if f is None or not f.stored:
                continue
            join = self._join(key + (target.name.lower(),), target, lookup_sql)
            exprs.append(f"{join.alias}.{_q(f.name)}")
            fdef_found = fdef_found or f
        if fdef_found is None:
            raise invalid_field(self.query, path.pos, no_such_column(name, "Name"))
        sql = exprs[0] if len(exprs) == 1 else f"COALESCE({', '.join(exprs)})"
        return _Resolved(sql, fdef_found, targets[0], hops, fdef_found.name)

    # --- expressions ---

    def expr_sql(self, expr: Expr) -> tuple[str, FieldDef | None, str]:
        """SQL for a field or function; returns (sql, field, kind)."""
        if isinstance(expr, FuncCall) and expr.name == "GROUPING":
            if self.rolled is None or expr.arg is None:
                raise malformed(self.query.text, expr.pos,
                                "GROUPING() requires GROUP BY ROLLUP or GROUP BY CUBE")
            substitute, self.substitute = self.substitute, False
            inner, _, _ = self.expr_sql(expr.arg)
            self.substitute = substitute
            return _grouping_sql(inner, inner in self.rolled), None, "int"
        sql, fdef, kind = self._expr_sql(expr)
        if self.substitute and self.rolled and sql in self.rolled:
            return _rolled_sql(sql), fdef, kind
        return sql, fdef, kind

    def _expr_sql(self, expr: Expr) -> tuple[str, FieldDef | None, str]:
        if isinstance(expr, FieldPath):
            r = self.resolve(expr)
            if r.fdef.type == "address":
                raise invalid_field(self.query, expr.pos,
                                    f"field '{r.fdef.name}' can not be filtered in a query call")
            return r.sql, r.fdef, "field"
        name = expr.name
        if expr.arg is None:
            return "COUNT(*)", None, "int"
        substitute, self.substitute = self.substitute, False
        inner_sql, inner_f, _ = self.expr_sql(expr.arg)
        self.substitute = substitute
        if name in DATE_FUNCTIONS:
            if inner_f is None or inner_f.type not in ("date", "datetime"):
                raise malformed(self.query.text, expr.pos,
                                f"{name} can only be used with date or dateTime fields")
            return _date_function(name, inner_sql), None, "int" if name != "DAY_ONLY" else "date"
        if name == "COUNT":
            return f"COUNT({inner_sql})", None, "int"
        if name == "COUNT_DISTINCT":
            return f"COUNT(DISTINCT {inner_sql})", None, "int"
        if name in ("SUM", "AVG"):
            if inner_f is None or inner_f.type not in NUMBER_TYPES:
                raise malformed(self.query.text, expr.pos,
                                f"field {expr.arg.text} does not support aggregate operator "
                                f"{name}")
            return f"{name}({inner_sql})", inner_f, "float" if name == "AVG" else "sum"
        if name in ("MIN", "MAX"):
            if inner_f is None or inner_f.type in ("boolean", "multipicklist", "textarea",
                                                   "base64"):
                raise malformed(self.query.text, expr.pos,
                                f"field {expr.arg.text} does not support aggregate operator "
                                f"{name}")
            return f"{name}({inner_sql})", inner_f, "field"
        if name in PASSTHROUGH_FUNCTIONS:
            return inner_sql, inner_f, "format" if name == "FORMAT" else "field"
        raise malformed(self.query.text, expr.pos, f"Unknown function: {expr.name}")

    # --- WHERE / HAVING ---

    def condition(self, cond: Condition, params: list[Any]) -> str:
        """SQL for a WHERE / HAVING condition tree (parameters appended)."""
        if isinstance(cond, And):
            return "(" + " AND ".join(self.condition(c, params) for c in cond.items) + ")"
        if isinstance(cond, Or):
            return "(" + " OR ".join(self.condition(c, params) for c in cond.items) + ")"
        if isinstance(cond, Not):
            # SOQL has two-valued logic: a comparison with null is false, so NOT makes it true.
            return f"(NOT COALESCE({self.condition(cond.item, params)}, 0))"
        return self.comparison(cond, params)

    def comparison(self, cmp: Comparison, params: list[Any]) -> str:
        """SQL for one comparison, checking the literal against the field type."""
        sql, fdef, kind = self.expr_sql(cmp.left)
        if isinstance(cmp.left, FuncCall) and cmp.left.is_aggregate and not self.in_having:
            raise malformed(self.query.text, cmp.pos,
                            "Aggregate functions are not allowed in the WHERE clause")
        op = cmp.op
        if fdef is not None and kind == "field" and not fdef.filterable:
            raise invalid_field(self.query, cmp.pos,
                                f"field '{fdef.name}' can not be filtered in a query call")
        if op in ("IN", "NOT IN") and isinstance(cmp.value, SoqlQuery):
            return self._semi_join(sql, fdef, op, cmp.value, params, cmp.pos)
        if op in ("INCLUDES", "EXCLUDES"):
            if fdef is None or fdef.type != "multipicklist":
                raise invalid_field(self.query, cmp.pos,
                                    f"{op} operator is only valid on multi-select picklist "
                                    "fields")
            assert isinstance(cmp.value, list)
            terms = []
            for lit in cmp.value:
                value = self.value(fdef, lit, kind)
                parts = [p.strip() for p in str(value).split(";") if p.strip()]
                ands = []
                for p in parts:
                    ands.append(f"(';' || {sql} || ';') LIKE ? ESCAPE '\\'")
                    params.append("%;" + _like_escape(p) + ";%")
                terms.append("(" + " AND ".join(ands or ["0"]) + ")")
            inc = "(" + " OR ".join(terms) + ")"
            return inc if op == "INCLUDES" else f"({sql} IS NULL OR NOT {inc})"
        if op in ("IN", "NOT IN"):
            assert isinstance(cmp.value, list)
            values = [self.value(fdef, lit, kind) for lit in cmp.value]
            if _folds(fdef, values):
                sql, values = _fold_sql(sql), [_fold(v) for v in values]
            non_null = [v for v in values if v is not None]
            has_null = len(non_null) != len(values)
            marks = ", ".join("?" * len(non_null))
            params.extend(non_null)
            if op == "IN":
                parts = [f"{sql} IN ({marks})"] if non_null else []
                if has_null:
                    parts.append(f"{sql} IS NULL")
                return "(" + (" OR ".join(parts) or "0") + ")"
            if has_null:
                return f"({sql} IS NOT NULL" + (f" AND {sql} NOT IN ({marks}))" if non_null
                                                 else ")")
            return f"({sql} IS NULL OR {sql} NOT IN ({marks}))"
        assert isinstance(cmp.value, Literal)
        lit = cmp.value
        if op == "LIKE":
            if lit.kind != "string":
                raise malformed(self.query.text, lit.pos, f"unexpected token: {lit.text}")
            if fdef is not None and not (fdef.is_text or fdef.type in ID_TYPES):
                raise invalid_field(self.query, cmp.pos,
                                    f"invalid operator on {fdef.type} field: LIKE")
            if _folds(fdef, [lit.like]):
                params.append(_fold(lit.like))
                return f"({_fold_sql(sql)} LIKE ? ESCAPE '\\')"
            params.append(lit.like)
            return f"({sql} LIKE ? ESCAPE '\\')"
        if lit.kind == "date_literal":
            if fdef is None and kind != "date":
                raise invalid_field(self.query, lit.pos, "Date literals can only be compared "
                                    "with date or dateTime values")
            if fdef is not None and fdef.type not in ("date", "datetime"):
                raise self._type_mismatch(fdef, lit)
            start, end = date_range(str(lit.value), lit.n, self.today)
            lo, hi = _bound(fdef, start), _bound(fdef, end)
            return _range_sql(sql, op, lo, hi, params)
        value = self.value(fdef, lit, kind)
        if value is None:
            if op == "=":
                return f"({sql} IS NULL)"
            if op == "!=":
                return f"({sql} IS NOT NULL)"
            return "0"
        if _folds(fdef, [value]):
            sql, value = _fold_sql(sql), _fold(value)
        params.append(value)
        if op == "!=":
            return f"({sql} IS NULL OR {sql} != ?)"
        return f"({sql} {op} ?)"

    def _type_mismatch(self, fdef: FieldDef, lit: Literal) -> DevOrgError:
        expected = _SOAP_NAMES.get(fdef.type, "string")
        quoted = "be enclosed in quotes" if expected == "string" or fdef.type in ID_TYPES \
            else "not be enclosed in quotes"
        if fdef.type in ID_TYPES:
            expected = "id"
        return invalid_field(
            self.query, lit.pos,
            f"value of filter criterion for field '{fdef.name}' must be of type {expected} "
            f"and should {quoted}",
        )

    def value(self, fdef: FieldDef | None, lit: Literal, kind: str) -> Any:
        """A literal checked against the field's type → the stored form to compare with."""
        if lit.kind == "null":
            return None
        if fdef is None or kind in ("int", "float", "sum"):
            if kind == "date":
                if lit.kind != "date":
                    raise invalid_field(self.query, lit.pos, "expected a date value")
                return lit.value
            if lit.kind != "number":
                raise invalid_field(self.query, lit.pos,
                                    f"value of filter criterion must be a number: {lit.text}")
            return lit.value
        t = fdef.type
        if t in ID_TYPES:
            if lit.kind != "string":
                raise self._type_mismatch(fdef, lit)
            text = str(lit.value)
            if text == "":
                return None
            if not is_valid_id(text):
                raise DevOrgError("INVALID_QUERY_FILTER_OPERATOR",
                                  located(self.query.text, lit.pos,
                                          f"invalid ID field: {text}"))
            return normalize_id(text)
        if t == "boolean":
            if lit.kind != "boolean":
                raise self._type_mismatch(fdef, lit)
            return 1 if lit.value else 0
        if t in NUMBER_TYPES:
            if lit.kind != "number":
                raise self._type_mismatch(fdef, lit)
            return lit.value
        if t == "date":
            if lit.kind != "date":
                raise self._type_mismatch(fdef, lit)
            try:
                return dt.date.fromisoformat(str(lit.value)).isoformat()
            except ValueError:
                raise malformed(self.query.text, lit.pos,
                                f"invalid date: {lit.text}") from None
        if t == "datetime":
            if lit.kind != "datetime":
                raise self._type_mismatch(fdef, lit)
            from ..store import parse_datetime, utc_now_text

            parsed = parse_datetime(str(lit.value))
            if parsed is None:
                raise malformed(self.query.text, lit.pos, f"invalid dateTime: {lit.text}")
            return utc_now_text(parsed)
        if lit.kind != "string":
            raise self._type_mismatch(fdef, lit)
        if lit.value == "" and fdef.is_text:
            return None  # Salesforce stores empty text as null, and matches it so
        return lit.value

    def _semi_join(self, sql: str, fdef: FieldDef | None, op: str, sub: SoqlQuery,
                   params: list[Any], pos: int) -> str:
        if fdef is None or fdef.type not in ID_TYPES:
            raise malformed(self.query.text, pos,
                            "Semi-join and anti-join sub-selects must filter on an Id or "
                            "reference field")
        if len(sub.select) != 1 or not isinstance(sub.select[0], SelectExpr) or not isinstance(
                sub.select[0].expr, FieldPath):
            raise malformed(self.query.text, pos,
                            "The selected field in a semi-join sub-select must be a single "
                            "Id or reference field")
        inner = Compiler(self.catalog, sub, today=self.today,
                         include_deleted=self.include_deleted, for_bulk=True,
                         aliases=self.aliases, user_id=self.user_id)
        r = inner.resolve(sub.select[0].expr)
        if r.fdef.type not in ID_TYPES:
            raise malformed(self.query.text, pos,
                            "The selected field in a semi-join sub-select must be an Id or "
                            "reference field")
        inner_params: list[Any] = []
        where = inner.where_sql(inner_params)
        from_sql = f"{_q(inner.obj.table)} {inner.base} " + " ".join(inner.join_sql)
        inner_sql = f"SELECT {r.sql} FROM {from_sql} WHERE {where} AND {r.sql} IS NOT NULL"
        params.extend(inner_params)
        if op == "IN":
            return f"({sql} IN ({inner_sql}))"
        return f"({sql} IS NULL OR {sql} NOT IN ({inner_sql}))"

    def _scope_sql(self, params: list[Any]) -> str:
        """`USING SCOPE`: everything, or mine (records the running user owns).

        Teams, territories, queues and delegation are not modelled here, so those scopes are
        refused rather than answered as if they were `everything`.
        """
        q = self.query
        if q.using_scope is None:
            return ""
        scope = q.using_scope.lower()
        if scope == "everything":
            return ""
        if scope == "mine" and self.obj.field("OwnerId") is not None:
            if self.user_id is None:
                raise malformed(q.text, q.using_scope_pos,
                                "USING SCOPE mine needs the user running the query")
            params.append(self.user_id)
            return f'{self.base}."OwnerId" = ?'
        raise malformed(q.text, q.using_scope_pos,
                        f"Invalid scope:{q.using_scope}, only everything and mine (on objects "
                        "with an owner) are supported")

    def where_sql(self, params: list[Any]) -> str:
        """The WHERE clause: live rows only (unless queryAll) and the condition."""
        parts = []
        if not self.include_deleted:
            parts.append(f'{self.base}."IsDeleted" = 0')
        scope = self._scope_sql(params)
        if scope:
            parts.append(scope)
        if self.query.where is not None:
            parts.append(self.condition(self.query.where, params))
        return " AND ".join(parts) or "1"

    # --- the statement ---

    def compile(self, *, child_fk: str | None = None,
                extra_where: tuple[str, list[Any]] | None = None) -> Plan:
        """Compile the query to one SQL statement (a UNION ALL for ROLLUP / CUBE)."""
        q = self.query
        if q.group_by_kind and self.rolled is None:
            return self._compile_rollup()
        if q.offset is not None and q.offset > MAX_OFFSET:
            raise DevOrgError("NUMBER_OUTSIDE_VALID_RANGE",
                              f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        if q.uses_fields_macro and any(
            isinstance(i, FieldsMacro) and i.kind in ("ALL", "CUSTOM") for i in q.select
        ) and (q.limit is None or q.limit > FIELDS_LIMIT):
            raise malformed(q.text, q.from_pos,
                            "The SOQL FIELDS function must have a LIMIT of at most 200")
        shape = Shape()
        columns: list[str] = []
        bulk_cols: list[tuple[int, FieldDef | None]] = []
        children: list[ChildOut] = []
        aggregate = q.is_aggregate
        count_only = q.is_count
        if count_only and len(q.select) != 1:
            raise malformed(q.text, q.from_pos, "COUNT() must be the only element in the "
                            "SELECT list")
        id_col = None if aggregate or count_only else self.col(f'{self.base}."Id"')
        group_sql: list[str] = []
        for g in q.group_by:
            gsql, gf, _ = self.expr_sql(g)
            if gf is not None and isinstance(g, FieldPath) and not gf.groupable:
                raise malformed(q.text, g.pos, f"field '{gf.name}' can not be grouped in a "
                                "query call")
            group_sql.append(gsql)
        expr_counter = itertools.count()
        seen_keys: set[str] = set()
        self.substitute = True
        if not count_only:
            for item in q.select:
                if isinstance(item, SubQuery):
                    if aggregate:
                        raise malformed(q.text, item.pos, "Aggregate queries do not support "
                                        "child relationship subqueries")
                    children.append(self._child(item))
                    shape.entries[children[-1].key] = children[-1]
                    continue
                if isinstance(item, FieldsMacro):
                    for f in self.obj.fields:
                        if item.kind == "CUSTOM" and not f.custom:
                            continue
                        if item.kind == "STANDARD" and f.custom:
                            continue
                        if self.for_bulk and f.type in ("address", "base64"):
                            continue
                        if f.name in shape.entries:
                            continue
                        self._add_field(FieldPath([f.name], item.pos), shape, columns,
                                        bulk_cols)
                    continue
                if isinstance(item, TypeOf):
                    self._typeof(item, shape)
                    continue
                assert isinstance(item, SelectExpr)
                if aggregate:
                    self._add_aggregate(item, shape, columns, bulk_cols, group_sql,
                                        expr_counter, seen_keys)
                else:
                    if isinstance(item.expr, FuncCall) and item.expr.name not in (
                            PASSTHROUGH_FUNCTIONS):
                        raise malformed(q.text, item.expr.pos,
                                        f"{item.expr.name} is only allowed with GROUP BY or "
                                        "as an aggregate query")
                    path = item.expr.arg if isinstance(item.expr, FuncCall) else item.expr
                    if not isinstance(path, FieldPath):
                        raise malformed(q.text, item.expr.pos, "unexpected function")
                    if isinstance(item.expr, FuncCall) and (item.alias or item.expr.name
                                                            == "FORMAT"):
                        self._add_function(item, path, shape, columns, bulk_cols)
                        continue
                    dotted = self._add_field(path, shape, columns, bulk_cols)
                    if dotted.lower() in seen_keys and not isinstance(item.expr, FuncCall):
                        raise malformed(q.text, path.pos, f"duplicate field selected: "
                                        f"{path.text}")
                    seen_keys.add(dotted.lower())
        self.substitute = False
        params: list[Any] = []
        where = self.where_sql(params)
        fk_col = None
        if child_fk is not None:
            fk_sql = f"{self.base}.{_q(child_fk)}"
            fk_col = self.col(fk_sql)
            # Filled with one placeholder per parent Id when the children are fetched.
            where += f" AND {fk_sql} IN ({PARENT_IDS})"
        if extra_where is not None:
            where += f" AND ({extra_where[0].format(t=self.base)})"
            params.extend(extra_where[1])
        having = ""
        having_params: list[Any] = []
        if q.having is not None:
            if not aggregate:
                raise malformed(q.text, q.from_pos, "HAVING requires GROUP BY")
            self.in_having = self.substitute = True
            having = " HAVING " + self.condition(q.having, having_params)
            self.in_having = self.substitute = False
        if self.rolled is not None:
            return self._branch_plan(shape, columns, bulk_cols, where, params, having,
                                     having_params, group_sql)
        order = self._order_by(aggregate, group_sql)
        if count_only:
            select_sql = "1"
        else:
            select_sql = ", ".join(self.cols) or "1"
        from_sql = f"FROM {_q(self.obj.table)} {self.base} " + " ".join(self.join_sql)
        sql = f"SELECT {select_sql} {from_sql} WHERE {where}"
        if group_sql:
            sql += " GROUP BY " + ", ".join(group_sql)
        sql += having
        if order:
            sql += " ORDER BY " + ", ".join(order)
        limit = q.limit
        if child_fk is None and (limit is not None or q.offset):
            sql += f" LIMIT {limit if limit is not None else -1}"
            if q.offset:
                sql += f" OFFSET {int(q.offset)}"
        if count_only:
            sql = f"SELECT COUNT(*) FROM ({sql})"
        return Plan(q, self.obj, sql, params + having_params, shape, id_col, columns,
                    bulk_cols, aggregate, count_only, children, limit, fk_col,
                    list(self.cols), from_sql=from_sql, base=self.base)

    def _compile_rollup(self) -> Plan:
        """GROUP BY ROLLUP / CUBE: one GROUP BY per grouping set, joined by UNION ALL."""
        q = self.query
        if q.is_count or len(q.group_by) > 3:
            raise malformed(q.text, q.from_pos, f"GROUP BY {q.group_by_kind} takes one to "
                            "three fields and aggregate functions")
        scratch = Compiler(self.catalog, q, today=self.today,
                           include_deleted=self.include_deleted, for_bulk=self.for_bulk,
                           user_id=self.user_id)
        group_sql = [scratch.expr_sql(g)[0] for g in q.group_by]
        if q.group_by_kind == "ROLLUP":
            sets = [frozenset(group_sql[k:]) for k in range(len(group_sql) + 1)]
        else:
            sets = [frozenset(c for i, c in enumerate(group_sql) if mask >> i & 1)
                    for mask in range(1 << len(group_sql))]
        branches = [
            Compiler(self.catalog, q, today=self.today, include_deleted=self.include_deleted,
                     for_bulk=self.for_bulk, rolled=rolled, user_id=self.user_id).compile()
            for rolled in sets
        ]
        first = branches[0]
        sql = " UNION ALL ".join(b.sql for b in branches)
        params = [p for b in branches for p in b.params]
        sql += " ORDER BY " + ", ".join(first.order_terms)
        if q.limit is not None or q.offset:
            sql += f" LIMIT {q.limit if q.limit is not None else -1}"
            if q.offset:
                sql += f" OFFSET {int(q.offset)}"
        return Plan(q, self.obj, sql, params, first.shape, None, first.columns,
                    first.bulk_cols, True, False, [], q.limit, None, first.select_cols)

    def _aggregates_rows(self) -> bool:
        """True when the select list or HAVING holds an aggregate function."""
        q = self.query
        if any(isinstance(i, SelectExpr) and isinstance(i.expr, FuncCall)
               and i.expr.is_aggregate for i in q.select):
            return True
        return q.having is not None

    def _branch_plan(self, shape: Shape, columns: list[str],
                     bulk_cols: list[tuple[int, FieldDef | None]], where: str,
                     params: list[Any], having: str, having_params: list[Any],
                     group_sql: list[str]) -> Plan:
        """One grouping set of a ROLLUP / CUBE; ORDER BY uses column numbers of the union."""
        assert self.rolled is not None
        self.substitute = True
        order: list[str] = []
        for item in self.query.order_by:
            sql, _, _ = self.expr_sql(item.expr)
            direction = "DESC" if item.descending else "ASC"
            order.append(f"{self.col(sql) + 1} {direction} NULLS "
                         f"{'LAST' if item.nulls_last else 'FIRST'}")
        for g in group_sql:
            # Detail rows first, then each level's subtotal, then the grand total.
            value = _rolled_sql(g) if g in self.rolled else g
            order.append(f"{self.col(_grouping_sql(g, g in self.rolled)) + 1} ASC")
            order.append(f"{self.col(value) + 1} ASC NULLS FIRST")
        self.substitute = False
        kept = [g for g in group_sql if g not in self.rolled]
        sql = (f"SELECT {', '.join(self.cols)} FROM {_q(self.obj.table)} {self.base} "
               + " ".join(self.join_sql) + f" WHERE {where}")
        if kept:
            sql += " GROUP BY " + ", ".join(kept)
        elif not self._aggregates_rows():
            # The grand-total row of a select list without aggregates: SQLite only folds
            # rows into one when an aggregate or a GROUP BY asks it to.
            sql += " GROUP BY ''"
        sql += having
        plan = Plan(self.query, self.obj, sql, params + having_params, shape, None, columns,
                    bulk_cols, True, False, [], self.query.limit, None, list(self.cols))
        plan.order_terms = order
        return plan

    def _add_field(self, path: FieldPath, shape: Shape, columns: list[str],
                   bulk_cols: list[tuple[int, FieldDef | None]]) -> str:
        r = self.resolve(path)
        names = [h[0] for h in r.hops] + [r.key]
        dotted = ".".join(names)
        target = shape
        for rel, lookup_sql, obj, _ in r.hops:
            entry = target.entries.get(rel)
            if not isinstance(entry, ParentOut):
                entry = ParentOut(rel, self.col(lookup_sql), obj.name if obj else None, Shape())
                target.entries[rel] = entry
            target = entry.shape
        if r.fdef.type == "address":
            if self.for_bulk:
                raise DevOrgError("FUNCTIONALITY_NOT_ENABLED",
                                  "Selecting compound data not supported in Bulk Query")
            prefix = r.sql.rsplit(".", 1)[0]
            cols = [self.col(f"{prefix}.{_q(p)}") for p in r.fdef.compound_parts]
            target.entries[r.key] = AddressOut(r.key, cols)
        else:
            if self.for_bulk and r.fdef.type == "base64":
                raise DevOrgError("FUNCTIONALITY_NOT_ENABLED",
                                  "Selecting base64 data not supported in Bulk Query")
            index = self.col(r.sql)
            target.entries[r.key] = FieldOut(r.key, index, r.fdef)
            columns.append(dotted)
            bulk_cols.append((index, r.fdef))
        return dotted

    def _add_function(self, item: SelectExpr, path: FieldPath, shape: Shape,
                      columns: list[str], bulk_cols: list[tuple[int, FieldDef | None]]) -> None:
        """toLabel / FORMAT / convertCurrency of a field, under its alias or field name."""
        assert isinstance(item.expr, FuncCall)
        r = self.resolve(path)
        if r.fdef.type in ("address", "base64"):
            raise malformed(self.query.text, item.expr.pos,
                            f"{item.expr.name} is not supported on field {r.fdef.name}")
        key = item.alias or r.key
        kind = "format" if item.expr.name == "FORMAT" else "field"
        index = self.col(r.sql)
        shape.entries[key] = FieldOut(key, index, r.fdef, kind)
        columns.append(key)
        bulk_cols.append((index, r.fdef))

    def _add_aggregate(self, item: SelectExpr, shape: Shape, columns: list[str],
                       bulk_cols: list[tuple[int, FieldDef | None]], group_sql: list[str],
                       counter: itertools.count[int], seen: set[str]) -> None:
        expr = item.expr
        sql, fdef, kind = self.expr_sql(expr)
        grouped_only = isinstance(expr, FieldPath) or not (
            expr.is_aggregate or expr.name == "GROUPING")
        if grouped_only and _unrolled(sql) not in group_sql:
            raise malformed(self.query.text, expr.pos,
                            f"Field must be grouped or aggregated: {expr.text}")
        if isinstance(expr, FieldPath):
            key = item.alias or (fdef.name if fdef else expr.parts[-1])
        else:
            key = item.alias or f"expr{next(counter)}"
        if key.lower() in seen:
            raise malformed(self.query.text, expr.pos, f"duplicate alias: {key}")
        seen.add(key.lower())
        index = self.col(sql)
        out_kind = {"int": "int", "float": "float", "sum": "float",
                    "format": "format"}.get(kind, "field")
        shape.entries[key] = FieldOut(key, index, fdef, out_kind)
        columns.append(key)
        bulk_cols.append((index, fdef))

    def _order_by(self, aggregate: bool, group_sql: list[str]) -> list[str]:
        out = []
        for item in self.query.order_by:
            sql, fdef, kind = self.expr_sql(item.expr)
            if fdef is not None and kind == "field" and not fdef.sortable:
                raise invalid_field(self.query, item.expr.pos,
                                    f"field '{fdef.name}' can not be sorted in a query call")
            if aggregate and not (isinstance(item.expr, FuncCall) and item.expr.is_aggregate) \
                    and sql not in group_sql:
                raise malformed(self.query.text, item.expr.pos,
                                "Ordered field must be grouped or aggregated: "
                                + item.expr.text)
            direction = "DESC" if item.descending else "ASC"
            nulls = "LAST" if item.nulls_last else "FIRST"
            out.append(f"{sql} {direction} NULLS {nulls}")
        if not aggregate and not self.query.is_count:
            out.append(f"{self.base}.rid")
        return out

    def _child(self, item: SubQuery) -> ChildOut:
        sub = item.query
        rel = self.obj.child(sub.from_object)
        if rel is None:
            raise DevOrgError(
                "INVALID_TYPE",
                located(self.query.text, sub.from_pos,
                        f"Didn't understand relationship '{sub.from_object}' in FROM part of "
                        "query call. If you are attempting to use a custom relationship, be "
                        "sure to append the '__r' after the custom relationship name. Please "
                        "reference your WSDL or the describe call for the appropriate names."),
            )
        if sub.subqueries:
            raise malformed(self.query.text, item.pos, "Nested child relationship subqueries "
                            "are not supported")
        child_obj = self.catalog.get(rel.child_sobject)
        inner = Compiler(self.catalog, sub, today=self.today,
                         include_deleted=self.include_deleted, for_bulk=False,
                         obj=child_obj, user_id=self.user_id)
        plan = inner.compile(child_fk=rel.field)
        return ChildOut(rel.relationship_name or sub.from_object, plan, rel.field)

    def _typeof(self, item: TypeOf, shape: Shape) -> None:
        if self.for_bulk:
            raise malformed(self.query.text, item.pos, "TYPEOF is not supported in Bulk Query")
        ref = self.obj.reference_by_relationship(item.relationship)
        if ref is None or len(ref.reference_to) < 2:
            raise malformed(self.query.text, item.pos,
                            f"TYPEOF requires a polymorphic relationship: {item.relationship}")
        lookup = f"{self.base}.{_q(ref.name)}"
        by_prefix: dict[str, tuple[str, Shape]] = {}
        for when in item.whens:
            target = self.catalog.find(when.sobject)
            if target is None or target.name not in ref.reference_to:
                raise malformed(self.query.text, item.pos,
                                f"TYPEOF: {when.sobject} is not a valid type for "
                                f"{ref.relationship_name}")
            join = self._join(("typeof", ref.name.lower(), target.name.lower()), target, lookup)
            sub_shape = Shape()
            for path in when.fields:
                f = target.field(path.parts[-1]) if len(path.parts) == 1 else None
                if f is None or not f.stored:
                    raise invalid_field(self.query, path.pos,
                                        no_such_column(path.text, target.name))
                sub_shape.entries[f.name] = FieldOut(
                    f.name, self.col(f"{join.alias}.{_q(f.name)}"), f)
            by_prefix[target.key_prefix] = (target.name, sub_shape)
        else_shape = None
        if item.else_fields:
            else_shape = Shape()
            targets = [t for t in (self.catalog.find(n) for n in ref.reference_to) if t]
            for path in item.else_fields:
                r = self._polymorphic(path, path.parts[-1], targets,
                                      ("typeof-else", ref.name.lower()), lookup, [])
                else_shape.entries[r.key] = FieldOut(r.key, self.col(r.sql), r.fdef)
        key = ref.relationship_name or item.relationship
        shape.entries[key] = TypeOfOut(key, self.col(lookup), by_prefix, else_shape)


def _rolled_sql(sql: str) -> str:
    """A group expression in a branch where it is rolled up (a subtotal: null)."""
    return f"(NULL /*rolled {sql} */)"


def _unrolled(sql: str) -> str:
    prefix, suffix = "(NULL /*rolled ", " */)"
    if sql.startswith(prefix) and sql.endswith(suffix):
        return sql[len(prefix):-len(suffix)]
    return sql


def _grouping_sql(sql: str, rolled: bool) -> str:
    """GROUPING(field): 1 on a subtotal row for the field, else 0."""
    return f"({1 if rolled else 0} /*grouping {sql} */)"


def _folds(fdef: FieldDef | None, values: list[Any]) -> bool:
    """True when a text comparison needs Unicode case folding (SQLite's NOCASE is ASCII)."""
    return fdef is not None and fdef.is_text and any(
        isinstance(v, str) and not v.isascii() for v in values)


def _fold(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _fold_sql(sql: str) -> str:
    return f"sf_fold({sql})"


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _bound(fdef: FieldDef | None, day: dt.date) -> str:
    if fdef is not None and fdef.type == "datetime":
        return day.isoformat() + "T00:00:00.000Z"
    return day.isoformat()


def _range_sql(sql: str, op: str, lo: str, hi: str, params: list[Any]) -> str:
    if op == "=":
        params.extend([lo, hi])
        return f"({sql} >= ? AND {sql} < ?)"
    if op == "!=":
        params.extend([lo, hi])
        return f"({sql} IS NULL OR {sql} < ? OR {sql} >= ?)"
    if op == "<":
        params.append(lo)
        return f"({sql} < ?)"
    if op == "<=":
        params.append(hi)
        return f"({sql} < ?)"
    if op == ">":
        params.append(hi)
        return f"({sql} >= ?)"
    if op == ">=":
        params.append(lo)
        return f"({sql} >= ?)"
    raise DevOrgError("MALFORMED_QUERY", f"unexpected operator with a date literal: {op}")


def _date_function(name: str, sql: str) -> str:
    name = name.replace("FISCAL_", "CALENDAR_") if name != "FISCAL_YEAR" else "CALENDAR_YEAR"
    fmt = {"CALENDAR_YEAR": "%Y", "CALENDAR_MONTH": "%m", "DAY_IN_MONTH": "%d",
           "DAY_IN_YEAR": "%j", "HOUR_IN_DAY": "%H"}
    if name in fmt:
        return f"CAST(strftime('{fmt[name]}', {sql}) AS INTEGER)"
    if name == "DAY_IN_WEEK":
        return f"(CAST(strftime('%w', {sql}) AS INTEGER) + 1)"
    if name == "CALENDAR_QUARTER":
        return f"((CAST(strftime('%m', {sql}) AS INTEGER) + 2) / 3)"
    if name == "WEEK_IN_YEAR":
        return f"((CAST(strftime('%j', {sql}) AS INTEGER) - 1) / 7 + 1)"
    if name == "WEEK_IN_MONTH":
        return f"((CAST(strftime('%d', {sql}) AS INTEGER) - 1) / 7 + 1)"
    if name == "DAY_ONLY":
        return f"substr({sql}, 1, 10)"
    raise DevOrgError("MALFORMED_QUERY", f"Unknown function: {name}")


__all__ = ["AGGREGATES", "Compiler", "Plan"]
