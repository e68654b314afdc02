"""Random WHERE clauses agree with a direct reading of SOQL's rules (hypothesis).

SOQL compares like this: a comparison with a null field is false, except ``= null``;
``!=`` is true for nulls; string comparisons ignore (ASCII) case; NOT negates the result.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sfbulk_mcp.devorg.store import Store

ROWS: list[dict[str, Any]] = [
    {"Name": f"acc{i}", "AnnualRevenue": rev, "Industry": ind, "Active__c": act,
     "Site": site}
    for i, (rev, ind, act, site) in enumerate([
        (None, None, True, None), (0.0, "Energy", False, "hq"), (10.0, "Banking", True, "HQ"),
        (10.0, "energy", True, "Branch"), (25.0, "Retail", False, None),
        (-3.0, "Banking", True, "b"), (None, "Retail", False, "HQ-2"), (100.0, None, True, "")])
]


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("prop") / "org.db"
    store = Store(path, clock=lambda: dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    for row in ROWS:
        store.create("Account", {k: v for k, v in row.items() if v is not None})
    yield store
    store.close()


@dataclass
class Cond:
    soql: str
    test: Any  # callable(row) -> bool


def _norm(v: Any) -> Any:
    if v == "":
        return None  # Salesforce keeps empty text as null
    return v.lower() if isinstance(v, str) else v


def _cmp(field: str, op: str, value: Any) -> Cond:
    literal = ("null" if value is None else f"'{value}'" if isinstance(value, str)
               else str(value).lower() if isinstance(value, bool) else repr(value))

    def test(row: dict[str, Any]) -> bool:
        got, want = _norm(row[field]), _norm(value)
        if op == "=":
            return bool(got == want)
        if op == "!=":
            return bool(got != want)
        if got is None or want is None:
            return False
        return bool({"<": got < want, ">": got > want, "<=": got <= want,
                     ">=": got >= want}[op])

    return Cond(f"{field} {op} {literal}", test)


def _in(field: str, values: list[str], negate: bool) -> Cond:
    soql = f"{field} {'NOT IN' if negate else 'IN'} ({', '.join(repr(v) for v in values)})"
    wanted = {v.lower() for v in values}

    def test(row: dict[str, Any]) -> bool:
        got = _norm(row[field])
        inside = got is not None and got in wanted
        return (got is None or not inside) if negate else inside

    return Cond(soql.replace('"', "'"), test)


def _like(field: str, pattern: str) -> Cond:
    def test(row: dict[str, Any]) -> bool:
        got = _norm(row[field])
        return got is not None and fnmatch.fnmatchcase(got, pattern.lower().replace("%", "*"))

    return Cond(f"{field} LIKE '{pattern}'", test)


comparisons = st.one_of(
    st.builds(_cmp, st.just("AnnualRevenue"), st.sampled_from(["=", "!=", "<", ">", "<=", ">="]),
              st.sampled_from([None, 0.0, 10.0, 25.0, -3.0, 50.0])),
    st.builds(_cmp, st.sampled_from(["Industry", "Site"]), st.sampled_from(["=", "!="]),
              st.sampled_from([None, "Energy", "BANKING", "retail", "hq", "Other"])),
    st.builds(_cmp, st.sampled_from(["Industry", "Name"]), st.sampled_from(["<", ">="]),
              st.sampled_from(["energy", "acc3", "M"])),
    st.builds(_cmp, st.just("Active__c"), st.sampled_from(["=", "!="]), st.booleans()),
    st.builds(_in, st.sampled_from(["Industry", "Site"]),
              st.lists(st.sampled_from(["Energy", "banking", "HQ", "b", "Retail"]),
                       min_size=1, max_size=3), st.booleans()),
    st.builds(_like, st.sampled_from(["Name", "Site", "Industry"]),
              st.sampled_from(["acc%", "%1", "h%", "%an%", "b", "%"])),
)


def _combine(children: st.SearchStrategy[Cond]) -> st.SearchStrategy[Cond]:
    def join(items: list[Cond], word: str) -> Cond:
        soql = f" {word} ".join(f"({c.soql})" for c in items)
        if word == "AND":
            return Cond(soql, lambda r: all(c.test(r) for c in items))
        return Cond(soql, lambda r: any(c.test(r) for c in items))

    def negate(c: Cond) -> Cond:
        return Cond(f"NOT ({c.soql})", lambda r: not c.test(r))

    return st.one_of(
        st.builds(join, st.lists(children, min_size=2, max_size=3), st.sampled_from(["AND",
                                                                                     "OR"])),
        st.builds(negate, children),
    )


conditions = st.recursive(comparisons, _combine, max_leaves=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conditions)
def test_where_agrees_with_soql_semantics(org: Store, cond: Cond) -> None:
    got = sorted(r["Name"] for r in org.query(f"SELECT Name FROM Account WHERE {cond.soql}")
                 .records)
    want = sorted(row["Name"] for row in ROWS if cond.test(row))
    assert got == want, cond.soql
