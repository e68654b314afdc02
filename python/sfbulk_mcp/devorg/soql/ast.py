"""The SOQL syntax tree produced by :mod:`.parser`."""

from __future__ import annotations

from dataclasses import dataclass, field

AGGREGATES = frozenset({"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"})
DATE_FUNCTIONS = frozenset({
    "CALENDAR_MONTH", "CALENDAR_QUARTER", "CALENDAR_YEAR", "DAY_IN_MONTH", "DAY_IN_WEEK",
    "DAY_IN_YEAR", "DAY_ONLY", "FISCAL_MONTH", "FISCAL_QUARTER", "FISCAL_YEAR",
    "HOUR_IN_DAY", "WEEK_IN_MONTH", "WEEK_IN_YEAR",
})
PASSTHROUGH_FUNCTIONS = frozenset({"TOLABEL", "FORMAT", "CONVERTCURRENCY", "CONVERTTIMEZONE"})


@dataclass
class FieldPath:
    """A field, possibly through parent relationships: ``Account.Owner.Name``."""

    parts: list[str]
    pos: int

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass
class FuncCall:
    """``COUNT(Id)``, ``CALENDAR_YEAR(CreatedDate)``, ``toLabel(Status)``; ``COUNT()``."""

    name: str  # upper case
    arg: FieldPath | FuncCall | None
    pos: int

    @property
    def is_aggregate(self) -> bool:
        """An aggregate, or FORMAT / convertCurrency of one (``FORMAT(MIN(Amount))``)."""
        if self.name in AGGREGATES:
            return True
        return (self.name in PASSTHROUGH_FUNCTIONS and isinstance(self.arg, FuncCall)
                and self.arg.is_aggregate)

    @property
    def text(self) -> str:
        inner = self.arg.text if self.arg is not None else ""
        return f"{self.name}({inner})"


Expr = FieldPath | FuncCall


@dataclass
class SelectExpr:
    """One select-list entry that is a field or a function, with its alias."""

    expr: Expr
    alias: str | None = None


@dataclass
class FieldsMacro:
    """``FIELDS(ALL | STANDARD | CUSTOM)``."""

    kind: str
    pos: int


@dataclass
class SubQuery:
    """A parent-to-child subquery in the select list: ``(SELECT … FROM Contacts)``."""

    query: SoqlQuery
    pos: int


@dataclass
class TypeOfWhen:
    """One ``WHEN type THEN fields`` branch of a TYPEOF."""
    sobject: str
    fields: list[FieldPath]


@dataclass
class TypeOf:
    """``TYPEOF What WHEN Account THEN Phone … ELSE Name END``."""

    relationship: str
    whens: list[TypeOfWhen]
    else_fields: list[FieldPath]
    pos: int


SelectItem = SelectExpr | FieldsMacro | SubQuery | TypeOf


@dataclass
class Literal:
    """A value in a condition.

    kind: string, number, null, boolean, date, datetime, date_literal. For strings,
    ``like`` is the pattern with LIKE escapes kept (``\\%``, ``\\_``, ``\\\\``).
    """

    kind: str
    value: object
    pos: int
    n: int | None = None  # the N of LAST_N_DAYS:N
    like: str | None = None
    text: str = ""


@dataclass
class Comparison:
    """A field (or function) compared with a value, a list or a subquery."""
    left: Expr
    op: str  # = != < <= > >= LIKE IN NOT IN INCLUDES EXCLUDES
    value: Literal | list[Literal] | SoqlQuery
    pos: int


@dataclass
class And:
    """All of the conditions."""
    items: list[Condition]


@dataclass
class Or:
    """Any of the conditions."""
    items: list[Condition]


@dataclass
class Not:
    """The negation."""
    item: Condition


Condition = Comparison | And | Or | Not


@dataclass
class OrderItem:
    """One ORDER BY entry."""
    expr: Expr
    descending: bool = False
    nulls_last: bool | None = None  # None: Salesforce's default


@dataclass
class SoqlQuery:
    """A parsed SOQL statement."""

    text: str
    select: list[SelectItem]
    from_object: str
    from_pos: int = 0
    from_alias: str | None = None
    using_scope: str | None = None
    using_scope_pos: int = 0
    where: Condition | None = None
    with_clauses: list[str] = field(default_factory=list)
    group_by: list[Expr] = field(default_factory=list)
    group_by_kind: str | None = None  # ROLLUP or CUBE
    having: Condition | None = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None
    for_clauses: list[str] = field(default_factory=list)
    update_clause: str | None = None
    all_rows: bool = False

    @property
    def is_count(self) -> bool:
        """``SELECT COUNT() FROM …``: the answer is a size, no records."""
        return any(
            isinstance(i, SelectExpr) and isinstance(i.expr, FuncCall)
            and i.expr.name == "COUNT" and i.expr.arg is None
            for i in self.select
        )

    @property
    def is_aggregate(self) -> bool:
        """True when the query uses aggregate functions or GROUP BY."""
        if self.group_by:
            return True
        return any(
            isinstance(i, SelectExpr) and isinstance(i.expr, FuncCall) and i.expr.is_aggregate
            for i in self.select
        )

    @property
    def subqueries(self) -> list[SubQuery]:
        """The parent-to-child subqueries of the select list."""
        return [i for i in self.select if isinstance(i, SubQuery)]

    @property
    def uses_typeof(self) -> bool:
        """True when the select list has a TYPEOF."""
        return any(isinstance(i, TypeOf) for i in self.select)

    @property
    def uses_fields_macro(self) -> bool:
        """True when the select list has FIELDS(…)."""
        return any(isinstance(i, FieldsMacro) for i in self.select)

    @property
    def fields(self) -> list[str]:
        """The plain field paths of the select list, as written."""
        out = []
        for item in self.select:
            if isinstance(item, SelectExpr) and isinstance(item.expr, FieldPath):
                out.append(item.expr.text)
        return out
