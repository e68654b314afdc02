"""A hand-written SOQL lexer and recursive-descent parser.

Keywords are case-insensitive. Errors are MALFORMED_QUERY with Salesforce's layout: the
query line, a caret under the offending token, ``ERROR at Row:r:Column:c`` and the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import DevOrgError
from .ast import (
    AGGREGATES,
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
    OrderItem,
    SelectExpr,
    SelectItem,
    SoqlQuery,
    SubQuery,
    TypeOf,
    TypeOfWhen,
)

DATE_LITERALS = frozenset({
    "YESTERDAY", "TODAY", "TOMORROW", "LAST_WEEK", "THIS_WEEK", "NEXT_WEEK", "LAST_MONTH",
    "THIS_MONTH", "NEXT_MONTH", "LAST_90_DAYS", "NEXT_90_DAYS", "THIS_QUARTER",
    "LAST_QUARTER", "NEXT_QUARTER", "THIS_YEAR", "LAST_YEAR", "NEXT_YEAR",
    "THIS_FISCAL_QUARTER", "LAST_FISCAL_QUARTER", "NEXT_FISCAL_QUARTER", "THIS_FISCAL_YEAR",
    "LAST_FISCAL_YEAR", "NEXT_FISCAL_YEAR",
})
DATE_LITERALS_N = frozenset({
    "LAST_N_DAYS", "NEXT_N_DAYS", "N_DAYS_AGO", "LAST_N_WEEKS", "NEXT_N_WEEKS",
    "N_WEEKS_AGO", "LAST_N_MONTHS", "NEXT_N_MONTHS", "N_MONTHS_AGO", "LAST_N_QUARTERS",
    "NEXT_N_QUARTERS", "N_QUARTERS_AGO", "LAST_N_YEARS", "NEXT_N_YEARS", "N_YEARS_AGO",
    "LAST_N_FISCAL_QUARTERS", "NEXT_N_FISCAL_QUARTERS", "N_FISCAL_QUARTERS_AGO",
    "LAST_N_FISCAL_YEARS", "NEXT_N_FISCAL_YEARS", "N_FISCAL_YEARS_AGO",
})

# Words that end a FROM clause or a select item, so they are never read as aliases.
_RESERVED = frozenset({
    "SELECT", "FROM", "WHERE", "WITH", "GROUP", "BY", "HAVING", "ORDER", "LIMIT", "OFFSET",
    "FOR", "USING", "UPDATE", "ALL", "AND", "OR", "NOT", "IN", "LIKE", "INCLUDES",
    "EXCLUDES", "NULL", "TRUE", "FALSE", "ASC", "DESC", "NULLS", "FIRST", "LAST", "TYPEOF",
    "WHEN", "THEN", "ELSE", "END", "ROLLUP", "CUBE", "SCOPE",
})

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.)*')
  | (?P<unterminated>'(?:[^'\\]|\\.)*)
  | (?P<datetime>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:?\d{2}))
  | (?P<date>\d{4}-\d{2}-\d{2}(?![\d:T]))
  | (?P<number>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z_]))
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><=|>=|!=|<>|=|<|>)
  | (?P<punct>[(),:])
    """,
    re.VERBOSE | re.DOTALL,
)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'",
            "\\": "\\"}


@dataclass
class Token:
    """One lexical token and its offset in the query text."""
    kind: str
    text: str
    pos: int

    @property
    def upper(self) -> str:
        return self.text.upper()


def malformed(text: str, pos: int, reason: str) -> DevOrgError:
    """MALFORMED_QUERY pointing at ``pos`` in ``text``."""
    return DevOrgError("MALFORMED_QUERY", located(text, pos, reason))


def located(text: str, pos: int, reason: str) -> str:
    """Salesforce's error layout: line, caret, row/column, reason."""
    pos = max(0, min(pos, len(text)))
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start: line_end if line_end >= 0 else len(text)]
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start + 1
    return f"\n{line}\n{' ' * (col - 1)}^\nERROR at Row:{row}:Column:{col}\n{reason}"


def _decode_string(raw: str, text: str, pos: int) -> tuple[str, str]:
    """A quoted literal → (value, LIKE pattern with SQLite ``\\`` escapes)."""
    body = raw[1:-1]
    value: list[str] = []
    like: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]
            if nxt in "%_":
                value.append(nxt)
                like.append("\\" + nxt)
            elif nxt in _ESCAPES:
                value.append(_ESCAPES[nxt])
                like.append("\\\\" if nxt == "\\" else _ESCAPES[nxt])
            elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", body[i + 2: i + 6]):
                char = chr(int(body[i + 2: i + 6], 16))
                value.append(char)
                like.append(char)
                i += 4
            else:
                raise malformed(text, pos + i + 1, "Invalid string literal " + raw + ". Illegal "
                                "character sequence '\\" + nxt + "' in string literal.")
            i += 2
            continue
        value.append(ch)
        like.append(ch)
        i += 1
    return "".join(value), "".join(like)


def tokenize(text: str) -> list[Token]:
    """Split SOQL text into tokens (whitespace dropped), ending with an EOF token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise malformed(text, pos, f"unexpected token: {text[pos]}")
        kind = m.lastgroup or ""
        if kind == "unterminated":
            raise malformed(text, pos, f"line 1:{len(text)} mismatched character '<EOF>' expecting "
                                       "'''")
        if kind != "ws":
            tokens.append(Token(kind, m.group(), pos))
        pos = m.end()
    tokens.append(Token("eof", "<EOF>", len(text)))
    return tokens


class Parser:
    """Turns SOQL text into a :class:`SoqlQuery`."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    # --- token helpers ---

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def peek(self, k: int = 1) -> Token:
        return self.tokens[min(self.i + k, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        self.i = min(self.i + 1, len(self.tokens) - 1)
        return tok

    def error(self, tok: Token | None = None, reason: str | None = None) -> DevOrgError:
        tok = tok or self.tok
        return malformed(self.text, tok.pos, reason or f"unexpected token: {tok.text}")

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.upper in words

    def accept_kw(self, *words: str) -> Token | None:
        if self.is_kw(*words):
            return self.advance()
        return None

    def expect_kw(self, word: str) -> Token:
        if not self.is_kw(word):
            raise self.error()
        return self.advance()

    def expect_punct(self, ch: str) -> Token:
        if self.tok.text != ch or self.tok.kind != "punct":
            raise self.error()
        return self.advance()

    def is_punct(self, ch: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == ch

    # --- grammar ---

    def parse(self) -> SoqlQuery:
        """The whole statement; anything left over is a syntax error."""
        query = self.query(nested=False)
        if self.tok.kind != "eof":
            raise self.error()
        return query

    def query(self, *, nested: bool) -> SoqlQuery:
        """SELECT … FROM … and its optional clauses (also used for subqueries)."""
        start = self.tok.pos
        self.expect_kw("SELECT")
        select = self.select_list()
        self.expect_kw("FROM")
        from_tok = self.advance()
        if from_tok.kind != "ident" or "." in from_tok.text:
            raise self.error(from_tok)
        query = SoqlQuery(text=self.text, select=select, from_object=from_tok.text,
                          from_pos=from_tok.pos)
        if self.tok.kind == "ident" and self.tok.upper not in _RESERVED:
            query.from_alias = self.advance().text
        if self.accept_kw("USING"):
            self.expect_kw("SCOPE")
            scope_tok = self.advance()
            if scope_tok.kind != "ident":
                raise self.error(scope_tok)
            query.using_scope, query.using_scope_pos = scope_tok.text, scope_tok.pos
        if self.accept_kw("WHERE"):
            query.where = self.condition()
        while self.is_kw("WITH"):
            self.advance()
            query.with_clauses.append(self.with_clause())
        if self.accept_kw("GROUP"):
            self.expect_kw("BY")
            if self.is_kw("ROLLUP", "CUBE") and self.peek().text == "(":
                query.group_by_kind = self.advance().upper
                self.expect_punct("(")
                query.group_by = self.expr_list()
                self.expect_punct(")")
            else:
                query.group_by = self.expr_list()
            if self.accept_kw("HAVING"):
                query.having = self.condition()
        if self.accept_kw("ORDER"):
            self.expect_kw("BY")
            query.order_by = self.order_list()
        if self.accept_kw("LIMIT"):
            query.limit = self.integer()
        if self.accept_kw("OFFSET"):
            query.offset = self.integer()
        if self.is_kw("FOR"):
            self.advance()
            while True:
                word = self.expect_one("VIEW", "REFERENCE", "UPDATE")
                query.for_clauses.append(word)
                if not self.is_punct(","):
                    break
                self.advance()
        if self.is_kw("UPDATE"):
            self.advance()
            query.update_clause = self.expect_one("TRACKING", "VIEWSTAT")
        if self.is_kw("ALL") and self.peek().upper == "ROWS":
            self.advance()
            self.advance()
            query.all_rows = True
        del start, nested
        return query

    def expect_one(self, *words: str) -> str:
        if not self.is_kw(*words):
            raise self.error()
        return self.advance().upper

    def with_clause(self) -> str:
        if self.is_kw("SECURITY_ENFORCED", "USER_MODE", "SYSTEM_MODE"):
            return self.advance().upper
        if self.is_kw("DATA") and self.peek().upper == "CATEGORY":
            raise self.error(reason="WITH DATA CATEGORY is not supported by the devorg")
        raise self.error()

    def integer(self) -> int:
        tok = self.advance()
        if tok.kind != "number" or not re.fullmatch(r"\d+", tok.text):
            raise self.error(tok)
        return int(tok.text)

    def select_list(self) -> list[SelectItem]:
        items = [self.select_item()]
        while self.is_punct(","):
            self.advance()
            items.append(self.select_item())
        return items

    def select_item(self) -> SelectItem:
        tok = self.tok
        if self.is_punct("("):
            self.advance()
            sub = self.query(nested=True)
            self.expect_punct(")")
            return SubQuery(sub, tok.pos)
        if tok.kind != "ident" or tok.upper in ("FROM",):
            raise self.error()
        if tok.upper == "TYPEOF":
            return self.typeof()
        if tok.upper == "FIELDS" and self.peek().text == "(":
            self.advance()
            self.advance()
            kind = self.expect_one("ALL", "STANDARD", "CUSTOM")
            self.expect_punct(")")
            return FieldsMacro(kind, tok.pos)
        expr = self.expr()
        alias = None
        if self.tok.kind == "ident" and self.tok.upper not in _RESERVED:
            alias = self.advance().text
        return SelectExpr(expr, alias)

    def typeof(self) -> TypeOf:
        start = self.advance()
        rel = self.advance()
        if rel.kind != "ident":
            raise self.error(rel)
        whens: list[TypeOfWhen] = []
        else_fields: list[FieldPath] = []
        while self.accept_kw("WHEN"):
            sobject = self.advance()
            self.expect_kw("THEN")
            whens.append(TypeOfWhen(sobject.text, self.path_list()))
        if self.accept_kw("ELSE"):
            else_fields = self.path_list()
        self.expect_kw("END")
        if not whens:
            raise self.error(start, "TYPEOF requires at least one WHEN clause")
        return TypeOf(rel.text, whens, else_fields, start.pos)

    def path_list(self) -> list[FieldPath]:
        paths = [self.path()]
        while self.is_punct(","):
            self.advance()
            paths.append(self.path())
        return paths

    def path(self) -> FieldPath:
        tok = self.advance()
        if tok.kind != "ident" or tok.upper in _RESERVED:
            raise self.error(tok)
        return FieldPath(tok.text.split("."), tok.pos)

    def expr(self) -> Expr:
        tok = self.tok
        if tok.kind == "ident" and self.peek().text == "(" and self.peek().kind == "punct":
            self.advance()
            self.advance()
            name = tok.upper
            arg: FieldPath | FuncCall | None = None
            if not self.is_punct(")"):
                arg = self.expr()
            self.expect_punct(")")
            if arg is None and name != "COUNT":
                raise self.error(tok, f"unexpected token: {tok.text}")
            if name in AGGREGATES and isinstance(arg, FuncCall) and arg.is_aggregate:
                raise self.error(tok, "Nested aggregate functions are not supported")
            return FuncCall(name, arg, tok.pos)
        return self.path()

    def expr_list(self) -> list[Expr]:
        items = [self.expr()]
        while self.is_punct(","):
            self.advance()
            items.append(self.expr())
        return items

    def order_list(self) -> list[OrderItem]:
        items = []
        while True:
            item = OrderItem(self.expr())
            if self.accept_kw("DESC"):
                item.descending = True
            else:
                self.accept_kw("ASC")
            if self.accept_kw("NULLS"):
                item.nulls_last = self.expect_one("FIRST", "LAST") == "LAST"
            items.append(item)
            if not self.is_punct(","):
                return items
            self.advance()

    # --- conditions ---

    def condition(self) -> Condition:
        """A condition; AND and OR cannot be mixed without parentheses."""
        first = self.unary()
        if self.is_kw("AND", "OR"):
            joiner = self.tok.upper
            items = [first]
            while self.is_kw("AND", "OR"):
                if self.tok.upper != joiner:
                    # SOQL needs parentheses to mix AND and OR.
                    raise self.error()
                self.advance()
                items.append(self.unary())
            return And(items) if joiner == "AND" else Or(items)
        return first

    def unary(self) -> Condition:
        if self.accept_kw("NOT"):
            return Not(self.unary())
        if self.is_punct("("):
            self.advance()
            cond = self.condition()
            self.expect_punct(")")
            return cond
        return self.comparison()

    def comparison(self) -> Comparison:
        start = self.tok
        left = self.expr()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Comparison(left, op, self.literal(), start.pos)
        if self.accept_kw("LIKE"):
            return Comparison(left, "LIKE", self.literal(), start.pos)
        if self.is_kw("NOT") and self.peek().upper == "IN":
            self.advance()
            self.advance()
            return Comparison(left, "NOT IN", self.in_values(), start.pos)
        if self.accept_kw("IN"):
            return Comparison(left, "IN", self.in_values(), start.pos)
        if self.is_kw("INCLUDES", "EXCLUDES"):
            op = self.advance().upper
            values = self.in_values()
            if not isinstance(values, list):
                raise self.error(tok)
            return Comparison(left, op, values, start.pos)
        raise self.error()

    def in_values(self) -> list[Literal] | SoqlQuery:
        self.expect_punct("(")
        if self.is_kw("SELECT"):
            sub = self.query(nested=True)
            self.expect_punct(")")
            return sub
        values = [self.literal()]
        while self.is_punct(","):
            self.advance()
            values.append(self.literal())
        self.expect_punct(")")
        return values

    def literal(self) -> Literal:
        """A value: string, number, null, boolean, date, datetime or date literal."""
        tok = self.advance()
        if tok.kind == "string":
            value, like = _decode_string(tok.text, self.text, tok.pos)
            return Literal("string", value, tok.pos, like=like, text=tok.text)
        if tok.kind == "number":
            number: float | int = float(tok.text) if re.search(r"[.eE]", tok.text) else int(
                tok.text)
            return Literal("number", number, tok.pos, text=tok.text)
        if tok.kind == "date":
            return Literal("date", tok.text, tok.pos, text=tok.text)
        if tok.kind == "datetime":
            return Literal("datetime", tok.text, tok.pos, text=tok.text)
        if tok.kind == "ident":
            word = tok.upper
            if word == "NULL":
                return Literal("null", None, tok.pos, text=tok.text)
            if word in ("TRUE", "FALSE"):
                return Literal("boolean", word == "TRUE", tok.pos, text=tok.text)
            if word in DATE_LITERALS:
                return Literal("date_literal", word, tok.pos, text=tok.text)
            if word in DATE_LITERALS_N:
                if not self.is_punct(":"):
                    raise self.error()
                self.advance()
                n_tok = self.advance()
                if n_tok.kind != "number" or not n_tok.text.isdigit():
                    raise self.error(n_tok)
                return Literal("date_literal", word, tok.pos, n=int(n_tok.text),
                               text=f"{tok.text}:{n_tok.text}")
        if tok.kind == "punct" and tok.text == ":":
            raise self.error(tok, "Bind variables are only allowed in Apex code")
        raise self.error(tok)


def parse_soql(text: str) -> SoqlQuery:
    """Parse SOQL text; MALFORMED_QUERY on a syntax error."""
    if not isinstance(text, str) or not text.strip():
        raise DevOrgError("MALFORMED_QUERY", "A query string has to be specified")
    return Parser(text).parse()
