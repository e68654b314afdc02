"""SOSL for the devorg: ``FIND {term} IN … RETURNING …`` and parameterized search.

Search terms follow SOSL's rules: words match whole words case-insensitively, ``*`` and
``?`` are wildcards, ``"quoted phrases"`` match as a phrase, several words must all match
unless joined with ``OR``, and ``AND NOT`` excludes. Each ``RETURNING`` object is run as a
SOQL query (its field list, WHERE, ORDER BY, LIMIT, OFFSET) with the match added.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .catalog import SObjectDef
from .errors import DevOrgError

if TYPE_CHECKING:
    from .store import Store

DEFAULT_LIMIT = 2000
SCOPES = {"ALL": "ALL", "NAME": "NAME", "EMAIL": "EMAIL", "PHONE": "PHONE", "SIDEBAR": "ALL"}
_SEARCHABLE_TYPES = frozenset({"string", "textarea", "email", "phone", "url"})


@dataclass
class Returning:
    """One ``RETURNING`` entry: an object and the SOQL clauses that shape its records."""

    sobject: str
    fields: str = "Id"
    clauses: str = ""


@dataclass
class SoslQuery:
    """A parsed SOSL statement."""
    term: str
    scope: str = "ALL"
    returning: list[Returning] = field(default_factory=list)
    limit: int | None = None


def _malformed(message: str) -> DevOrgError:
    return DevOrgError("MALFORMED_SEARCH", message)


def parse_sosl(text: str) -> SoslQuery:
    """Parse ``FIND {term} [IN x FIELDS] [RETURNING …] [LIMIT n]``."""
    s = text.strip()
    m = re.match(r"(?is)FIND\s*", s)
    if not m:
        raise _malformed("No search term found. The search term must be enclosed in braces.")
    pos = m.end()
    if pos < len(s) and s[pos] in "{'":
        close = "}" if s[pos] == "{" else "'"
        end = pos + 1
        while end < len(s) and s[end] != close:
            end += 2 if s[end] == "\\" else 1
        if end >= len(s):
            raise _malformed("No search term found. The search term must be enclosed in "
                             "braces.")
        term = s[pos + 1:end]
        pos = end + 1
    else:
        raise _malformed("No search term found. The search term must be enclosed in braces.")
    query = SoslQuery(term=term)
    rest = s[pos:]
    m = re.match(r"(?is)\s*IN\s+(ALL|NAME|EMAIL|PHONE|SIDEBAR)\s+FIELDS\b", rest)
    if m:
        query.scope = SCOPES[m.group(1).upper()]
        rest = rest[m.end():]
    m = re.match(r"(?is)\s*RETURNING\s+", rest)
    if m:
        rest = rest[m.end():]
        rest = _parse_returning(rest, query)
    while rest.strip():
        m = re.match(r"(?is)\s*LIMIT\s+(\d+)", rest)
        if m:
            query.limit = int(m.group(1))
            rest = rest[m.end():]
            continue
        m = re.match(r"(?is)\s*WITH\s+(?:SNIPPET|HIGHLIGHT|SPELL_CORRECTION\s*=\s*\w+|"
                     r"DIVISION\s*=\s*'[^']*'|METADATA\s*=\s*'[^']*'|NETWORK\s*=\s*'[^']*'|"
                     r"DATA\s+CATEGORY\s+\S+\s+\S+\s+\S+)(?:\s*\(\s*target_length\s*=\s*\d+"
                     r"\s*\))?", rest)
        if m:
            rest = rest[m.end():]
            continue
        m = re.match(r"(?is)\s*UPDATE\s+(?:TRACKING|VIEWSTAT)", rest)
        if m:
            rest = rest[m.end():]
            continue
        raise _malformed(f"unexpected token: {rest.strip().split()[0]}")
    return query


def _parse_returning(rest: str, query: SoslQuery) -> str:
    while True:
        m = re.match(r"\s*([A-Za-z_][A-Za-z0-9_]*)", rest)
        if not m:
            raise _malformed(f"unexpected token: {rest.strip()[:20] or '<EOF>'}")
        entry = Returning(m.group(1))
        rest = rest[m.end():]
        stripped = rest.lstrip()
        if stripped.startswith("("):
            depth, i, quote = 0, 0, False
            while i < len(stripped):
                ch = stripped[i]
                if quote:
                    if ch == "\\":
                        i += 1
                    elif ch == "'":
                        quote = False
                elif ch == "'":
                    quote = True
                elif ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            if depth != 0:
                raise _malformed("unexpected token: <EOF>")
            inner = stripped[1:i]
            rest = stripped[i + 1:]
            m2 = re.search(r"(?is)\b(WHERE|ORDER\s+BY|LIMIT|OFFSET|USING\s+LISTVIEW)\b", inner)
            if m2:
                entry.fields, entry.clauses = inner[:m2.start()].strip(), inner[m2.start():]
            else:
                entry.fields = inner.strip()
            if not entry.fields:
                raise _malformed("unexpected token: )")
        query.returning.append(entry)
        m = re.match(r"\s*,", rest)
        if not m:
            return rest
        rest = rest[m.end():]


# --- search terms -----------------------------------------------------------------------


@dataclass
class _Term:
    regex: re.Pattern[str]
    like: str  # a cheap LIKE prefilter
    negate: bool = False


def _term_regex(word: str, phrase: bool) -> _Term:
    body = ""
    like = ""
    for ch in word:
        if ch == "*" and not phrase:
            body += r"\w*"
            like += "%"
        elif ch == "?" and not phrase:
            body += r"\w"
            like += "_"
        elif ch.isspace():
            body += r"\s+"
            like += "%"
        else:
            body += re.escape(ch)
            like += ch.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    pattern = re.compile(r"(?<!\w)" + body + r"(?!\w)", re.IGNORECASE)
    return _Term(pattern, "%" + like + "%")


def parse_term(term: str) -> list[list[_Term]]:
    """A search term → OR-groups of AND-ed word matchers."""
    tokens = re.findall(r'"(?:[^"\\]|\\.)*"|\(|\)|[^\s()"]+', term)
    groups: list[list[_Term]] = [[]]
    negate_next = False
    for tok in tokens:
        upper = tok.upper()
        if tok in ("(", ")"):
            continue
        if upper == "OR":
            groups.append([])
            continue
        if upper == "AND":
            continue
        if upper == "NOT":
            negate_next = True
            continue
        phrase = tok.startswith('"') and tok.endswith('"') and len(tok) >= 2
        word = tok[1:-1] if phrase else tok
        word = re.sub(r"\\(.)", r"\1", word)
        if not word.strip("*?"):
            continue
        t = _term_regex(word, phrase)
        t.negate = negate_next
        negate_next = False
        groups[-1].append(t)
    groups = [g for g in groups if g]
    meaningful = "".join(ch for ch in term if ch.isalnum())
    if not groups or len(meaningful) < 2:
        raise DevOrgError("INVALID_SEARCH", "search term must be longer than one character")
    return groups


def _search_fields(obj: SObjectDef, scope: str) -> list[str]:
    if scope == "NAME":
        names = [f.name for f in obj.fields if f.name_field or f.name in ("FirstName",
                                                                         "LastName")]
        return names or [obj.name_field.name]
    if scope == "EMAIL":
        return [f.name for f in obj.fields if f.type == "email"]
    if scope == "PHONE":
        return [f.name for f in obj.fields if f.type == "phone"]
    return [f.name for f in obj.fields if f.type in _SEARCHABLE_TYPES and f.stored]


def match_sql(obj: SObjectDef, scope: str, groups: list[list[_Term]]) -> tuple[str, list[Any]]:
    """SQL (with ``{t}`` for the table alias) matching records for the term groups."""
    fields = _search_fields(obj, scope)
    if not fields:
        return "0", []
    haystack = " || ' ' || ".join(f'COALESCE({{t}}."{f}", \'\')' for f in fields)
    params: list[Any] = []
    ors = []
    for group in groups:
        ands = []
        for t in group:
            if t.like.isascii():
                test = f"(({haystack}) LIKE ? ESCAPE '\\' AND sosl_match(?, {haystack}))"
            else:  # LIKE folds ASCII only: fold both sides for accented or other scripts
                test = (f"(sf_fold({haystack}) LIKE ? ESCAPE '\\' AND "
                        f"sosl_match(?, {haystack}))")
            params.extend([t.like if t.like.isascii() else t.like.lower(), t.regex.pattern])
            ands.append(f"NOT {test}" if t.negate else test)
        ors.append("(" + " AND ".join(ands) + ")")
    return " OR ".join(ors), params


def run_search(store: Store, sosl: str, *, api_version: str) -> dict[str, Any]:
    """Run SOSL text; returns ``{"searchRecords": [...]}``."""
    query = parse_sosl(sosl)
    return execute_search(store, query, api_version=api_version)


def execute_search(store: Store, query: SoslQuery, *, api_version: str) -> dict[str, Any]:
    """Run a parsed search over its RETURNING objects (all searchable ones by default)."""
    from .soql.compiler import Compiler
    from .soql.execute import _Builder
    from .soql.parser import parse_soql

    groups = parse_term(query.term)
    returning = query.returning or [
        Returning(o.name) for o in store.catalog if o.searchable and o.name != "User"
    ]
    limit = DEFAULT_LIMIT if query.limit is None else min(query.limit, DEFAULT_LIMIT)
    builder = _Builder(store, api_version)
    records: list[dict[str, Any]] = []
    conn = store._conn()
    for entry in returning:
        obj = store.catalog.get(entry.sobject)
        soql = f"SELECT {entry.fields} FROM {obj.name} {entry.clauses}"
        try:
            parsed = parse_soql(soql)
        except DevOrgError as exc:
            raise DevOrgError("MALFORMED_SEARCH", exc.message) from None
        compiler = Compiler(store.catalog, parsed, today=store.now().date(),
                            include_deleted=False, for_bulk=False)
        plan = compiler.compile(extra_where=match_sql(obj, query.scope, groups))
        if plan.aggregate or plan.children:
            raise DevOrgError("MALFORMED_SEARCH", "RETURNING fields must be plain fields")
        for row in conn.execute(plan.sql, plan.params):
            if len(records) >= limit:
                break
            records.append(builder.record(obj.name, row[plan.id_col or 0], plan.shape, row))
    return {"searchRecords": records}


def search_parameterized(store: Store, q: str, *, sobjects: dict[str, list[str]] | None = None,
                         scope: str = "ALL", overall_limit: int | None = None,
                         api_version: str) -> dict[str, Any]:
    """``/parameterizedSearch``: ``q`` plus per-object field lists, no SOSL text."""
    query = SoslQuery(term=q, scope=SCOPES.get(scope.upper(), "ALL"), limit=overall_limit)
    for name, fields in (sobjects or {}).items():
        query.returning.append(Returning(name, ", ".join(fields) if fields else "Id"))
    return execute_search(store, query, api_version=api_version)


def sosl_match(pattern: str, text: str | None) -> bool:
    """The SQLite function behind word matching (registered on each connection)."""
    if text is None:
        return False
    return _compiled(pattern).search(text) is not None


_CACHE: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    found = _CACHE.get(pattern)
    if found is None:
        found = re.compile(pattern, re.IGNORECASE)
        if len(_CACHE) < 512:
            _CACHE[pattern] = found
    return found
