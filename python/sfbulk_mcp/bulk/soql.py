"""Just enough SOQL understanding to route a query: which object, which columns, and whether
Bulk API 2.0 accepts it.

This is not a SOQL parser. It splits the text at the top level (outside string literals and
parentheses), which is all it takes to find the SELECT list, the FROM object and the clauses
Bulk rejects, so that the user gets a clear error before a job is created.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from .errors import UnsupportedBulkQueryError

_AGGREGATE_FUNCTIONS = frozenset(
    {"count", "count_distinct", "sum", "avg", "min", "max", "grouping"}
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True)
class SoqlShape:
    """What routing needs to know about a SOQL query."""

    soql: str
    object: str | None
    select_items: tuple[str, ...]
    aggregate: bool = False
    group_by: bool = False
    offset: bool = False
    typeof: bool = False
    subquery: bool = False
    has_limit: bool = False
    problems: tuple[str, ...] = field(default=())

    @property
    def bulk_ok(self) -> bool:
        """True when Bulk API 2.0 accepts the query as far as the text shows."""
        return not self.problems

    @property
    def rest_only_aggregate(self) -> bool:
        """True for aggregate queries (GROUP BY / COUNT() ...), which REST answers instead."""
        return (self.aggregate or self.group_by) and not (self.typeof or self.subquery)

    @property
    def columns(self) -> tuple[str, ...]:
        """Result column names for a plain (non-aggregate) query, in SELECT order."""
        return tuple(item for item in self.select_items if _IDENT.fullmatch(item))


def _top_level_tokens(soql: str) -> list[tuple[int, str, int]]:
    """(position, token, depth) for words and punctuation outside string literals."""
    tokens: list[tuple[int, str, int]] = []
    depth = 0
    i = 0
    n = len(soql)
    while i < n:
        ch = soql[i]
        if ch == "'":
            i += 1
            while i < n and soql[i] != "'":
                i += 2 if soql[i] == "\\" else 1
            i += 1
            continue
        if ch == "(":
            tokens.append((i, "(", depth))
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
            tokens.append((i, ")", depth))
        elif ch == ",":
            tokens.append((i, ",", depth))
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and (soql[j].isalnum() or soql[j] in "_."):
                j += 1
            tokens.append((i, soql[i:j], depth))
            i = j
            continue
        i += 1
    return tokens


def _split_select_list(text: str) -> list[str]:
    items: list[str] = []
    depth = 0
    start = 0
    quoted = False
    for i, ch in enumerate(text):
        if ch == "'" and (i == 0 or text[i - 1] != "\\"):
            quoted = not quoted
        if quoted:
            continue
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    tail = text[start:].strip()
    if tail:
        items.append(tail)
    return items


def analyze(soql: str) -> SoqlShape:
    """The shape of `soql`: object, SELECT items and every construct Bulk API 2.0 rejects."""
    text = soql.strip().rstrip(";").strip()
    tokens = _top_level_tokens(text)
    select_at = next(
        (k for k, (_, tok, depth) in enumerate(tokens) if depth == 0 and tok.lower() == "select"),
        None,
    )
    from_at = next(
        (
            k
            for k, (_, tok, depth) in enumerate(tokens)
            if depth == 0 and tok.lower() == "from" and (select_at is None or k > select_at)
        ),
        None,
    )
    if select_at is None or from_at is None:
        return SoqlShape(
            soql=text, object=None, select_items=(), problems=("not a SELECT ... FROM query",)
        )
    select_text = text[tokens[select_at][0] + len("select") : tokens[from_at][0]]
    items = tuple(_split_select_list(select_text))
    obj = tokens[from_at + 1][1] if from_at + 1 < len(tokens) else None

    top_words = [tok.lower() for _, tok, depth in tokens[from_at:] if depth == 0]
    group_by = any(w == "group" and nxt == "by" for w, nxt in itertools.pairwise(top_words))
    offset = "offset" in top_words
    has_limit = "limit" in top_words
    typeof = any(it.lower().startswith("typeof ") for it in items)
    subquery = any(it.startswith("(") for it in items)
    aggregate = False
    for item in items:
        match = re.match(r"([A-Za-z_]+)\s*\(", item)
        if match and match.group(1).lower() in _AGGREGATE_FUNCTIONS:
            aggregate = True

    problems: list[str] = []
    if group_by:
        problems.append("GROUP BY is not supported")
    if aggregate:
        problems.append("aggregate functions such as COUNT() are not supported")
    if offset:
        problems.append("OFFSET is not supported")
    if typeof:
        problems.append("TYPEOF is not supported")
    if subquery:
        problems.append("parent-to-child subqueries are not supported")
    return SoqlShape(
        soql=text,
        object=obj,
        select_items=items,
        aggregate=aggregate,
        group_by=group_by,
        offset=offset,
        typeof=typeof,
        subquery=subquery,
        has_limit=has_limit,
        problems=tuple(problems),
    )


def compound_field_problems(columns: Iterable[str], field_types: dict[str, str]) -> list[str]:
    """Problems for compound address/location fields selected directly (Bulk rejects them)."""
    problems = []
    for column in columns:
        kind = field_types.get(column.lower())
        if kind in {"address", "location"}:
            problems.append(
                f"compound {kind} field {column} is not supported (select its components)"
            )
    return problems


def require_bulk(shape: SoqlShape, extra_problems: Sequence[str] = ()) -> None:
    """Raise `UnsupportedBulkQueryError` unless Bulk API 2.0 accepts the query."""
    problems = [*shape.problems, *extra_problems]
    if problems:
        raise UnsupportedBulkQueryError(shape.soql, problems)


def quote_identifier_list(fields: Sequence[str]) -> str:
    """`a, b, c` after checking that each name is a plain (possibly dotted) field name."""
    for name in fields:
        if not _IDENT.fullmatch(name):
            raise ValueError(f"not a field name: {name!r}")
    return ", ".join(fields)


def build_soql(
    object_name: str,
    fields: Sequence[str],
    where: str | None = None,
    limit: int | None = None,
) -> str:
    """`SELECT fields FROM object [WHERE where] [LIMIT n]`."""
    if not _IDENT.fullmatch(object_name) or "." in object_name:
        raise ValueError(f"not an object name: {object_name!r}")
    if not fields:
        raise ValueError("no fields to select")
    soql = f"SELECT {quote_identifier_list(fields)} FROM {object_name}"
    if where and where.strip():
        clause = where.strip()
        if clause.lower().startswith("where "):
            clause = clause[6:].strip()
        soql += f" WHERE {clause}"
    if limit is not None:
        soql += f" LIMIT {int(limit)}"
    return soql


__all__ = [
    "SoqlShape",
    "analyze",
    "build_soql",
    "compound_field_problems",
    "require_bulk",
]
