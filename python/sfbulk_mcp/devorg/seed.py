"""Deterministic, realistic seed data for the devorg, generated set-based inside SQLite.

``seed(store, n_accounts, seed=0)`` writes N accounts, each with contacts, opportunities
and cases (plus invoices and tasks for some), owned by a handful of users. Rows are
produced by ``INSERT … SELECT`` over a recursive counter, so a million accounts take
seconds, not minutes; the same ``seed`` always gives the same data.

The data carries the cases real orgs have and naive clients get wrong: embedded LF and CRLF
newlines, double quotes, commas, emoji, CJK / Arabic / accented text, textareas longer
than 32 KB, strings such as ``NA`` / ``null`` / ``N/A`` / ``""`` that must not become nulls,
and real nulls.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .ids import _CHECKSUM_ALPHABET, _POD, _checksum

if TYPE_CHECKING:
    from .store import Store

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
# Seeded timestamps are spread over the three years before this instant, so the data does
# not depend on the day it was generated.
ANCHOR_EPOCH = 1767225600  # 2026-01-01T00:00:00Z
THREE_YEARS = 3 * 365 * 86400

FIRST_NAMES = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Amélie", "Søren", "José", "Zoë", "François", "Yūki",
    "Mohammed", "Aisha", "Wei", "Priya", "Olusegun", "Björn", "Ngọc", "Łukasz", "Ana",
    "Chloé", "Dmitri", "Fatima", "Hiroshi", "Ingrid", "Kwame",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "O'Brien", "Müller", "Øvergaard",
    "Nguyễn", "Kowalski", "Fernández", "D'Angelo", "van der Berg", "Okafor", "Tanaka",
    "Ivanov", "Al-Sayed", "Chen", "Patel", "Dubois", "Rossi", "Novák", "Şahin", "Kim",
    "Silva", "Schmidt", "Lefèvre", "MacDonald",
]
COMPANY_WORDS = [
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne",
    "Soylent", "Hooli", "Vandelay", "Pied Piper", "Massive Dynamic", "Aperture", "Oscorp",
    "Gringotts", "Monarch", "Blue Sun", "Nakatomi", "Dunder Mifflin", "Prestige Worldwide",
    "Sterling Cooper", "Bluth", "Oceanic", "Virtucon", "Gekko", "Duff", "Krusty", "Veidt",
]
COMPANY_SUFFIXES = ["Inc.", "LLC", "Ltd", "GmbH", "S.A.", "Corp.", "Group", "Holdings",
                    "& Co.", "Partners", "K.K.", "AG", "Pty Ltd", "SARL", "BV"]
CITIES = [
    ("San Francisco", "CA", "US", "94105"), ("New York", "NY", "US", "10001"),
    ("Austin", "TX", "US", "73301"), ("Chicago", "IL", "US", "60601"),
    ("London", None, "GB", "EC1A 1BB"), ("Paris", None, "FR", "75001"),
    ("Berlin", None, "DE", "10115"), ("Tokyo", None, "JP", "100-0001"),
    ("São Paulo", "SP", "BR", "01000-000"), ("Zürich", None, "CH", "8001"),
    ("Montréal", "QC", "CA", "H2Y 1C6"), ("Sydney", "NSW", "AU", "2000"),
    ("Dubai", None, "AE", None), ("Bengaluru", "KA", "IN", "560001"),
    ("Kraków", None, "PL", "30-001"), ("Reykjavík", None, "IS", "101"),
]
STREETS = ["Main St", "Market Street", "Rue de Rivoli", "Unter den Linden", "High Street",
           "Avenida Paulista", "Bahnhofstrasse", "Chūō-dōri", "Broadway", "King St W"]

# Values that must survive a CSV round trip byte for byte.
HARD_NAMES = [
    'Acme "Quoted" Holdings, Inc.',
    "Comma, Semicolon; and Pipe | Traders",
    "Rocket 🚀 Labs 🌍",
    "株式会社サンプル商事",
    "شركة النخبة للتجارة",
    "Société Générale d'Électricité Zoë",
    "Line\nBreak Company",
    "CRLF\r\nIndustries",
    "Tab\tSeparated Ltd",
    "Back\\slash & Sons",
    "NA",
    "null",
    "N/A",
    '""',
    "   Leading and trailing spaces   ",
    "Ünïcödé Ñame Çorp",
    "Ελληνική Εταιρεία",
    "Компания Пример",
    "קבוצת דוגמה",
    "中文公司名称有限公司",
]
HARD_TEXT = [
    "First line\nSecond line\nThird line",
    "Windows line one\r\nWindows line two\r\n",
    'She said "hello", then left, quietly.',
    "Emoji party 🎉🎊🥳 and flags 🇫🇷🇯🇵",
    "混合テキスト: 日本語, 中文, 한국어",
    "مرحبا بالعالم — نص عربي مع علامات ترقيم، وفواصل",
    "Crème brûlée, façade, naïve, coöperate, señor",
    "Trailing newline\n",
    "\nLeading newline",
    "Quotes at the edges: \"",
    "A lone carriage return\rinside",
    "Unicode line separator\u2028and paragraph\u2029separator",
    "Zero width\u200bjoiner and BOM-like \ufeff char",
]
INDUSTRIES = ["Technology", "Banking", "Healthcare", "Retail", "Manufacturing", "Energy",
              "Education", "Media", "Telecommunications", "Insurance", "Consulting",
              "Transportation"]
ACCOUNT_TYPES = ["Prospect", "Customer - Direct", "Customer - Channel",
                 "Channel Partner / Reseller", "Installation Partner", "Technology Partner",
                 "Other"]
RATINGS = ["Hot", "Warm", "Cold"]
SOURCES = ["Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"]
STAGES = [("Prospecting", 10, "Pipeline"), ("Qualification", 10, "Pipeline"),
          ("Needs Analysis", 20, "Pipeline"), ("Value Proposition", 50, "Pipeline"),
          ("Proposal/Price Quote", 75, "Best Case"), ("Negotiation/Review", 90, "Commit"),
          ("Closed Won", 100, "Closed"), ("Closed Lost", 0, "Omitted")]
CASE_STATUS = ["New", "Working", "Escalated", "Closed"]
CASE_ORIGIN = ["Phone", "Email", "Web"]
PRIORITIES = ["High", "Medium", "Low"]
TITLES = ["CEO", "CFO", "VP Sales", "Director of IT", "Buyer", "Engineer", "Analyst",
          "Office Manager", "Head of Data", "Procurement Lead"]
REGIONS = ["AMER", "EMEA", "APAC", "LATAM", "AMER;EMEA", "EMEA;APAC", None]
INVOICE_STATUS = ["Draft", "Sent", "Paid", "Void"]
TAGS = ["Urgent", "Recurring", "Disputed;Urgent", "Export", None]

SEED_USERS = [
    ("Ava", "Reyes", "Sales Manager"), ("Noah", "Kim", "Account Executive"),
    ("Mia", "Okafor", "Account Executive"), ("Lucas", "Dubois", "Support Agent"),
    ("Sofia", "Tanaka", "Support Agent"), ("Élodie", "Martin", "Sales Rep"),
    ("Omar", "Haddad", "Sales Rep"), ("Chen", "Wei", "Data Steward"),
]


@dataclass
class SeedResult:
    """How many records of each type a seed run wrote."""

    users: int
    accounts: int
    contacts: int
    opportunities: int
    cases: int
    invoices: int
    tasks: int


_FAST_ID_BOUND = 62 ** 5


def _sid(prefix: str, n_expr: str) -> str:
    return sql_id(prefix, n_expr, below=_FAST_ID_BOUND)


def sql_id(prefix: str, n_expr: str, *, below: int = 62 ** 9) -> str:
    """SQL computing the 18-char devorg Id of sequence number ``n_expr`` under ``prefix``.

    When every sequence number is known to be ``< below <= 62**5``, the four leading
    base-62 digits are zeros and the middle checksum character is constant, which
    halves the work per row.
    """
    width = 5 if below <= 62 ** 5 else 9
    digits = [f"(({n_expr}) / {62 ** k}) % 62" for k in range(width - 1, -1, -1)]
    chars = " || ".join(f"substr('{_BASE62}', {d} + 1, 1)" for d in digits)

    def upper(d: str) -> str:
        return f"(({d}) BETWEEN 10 AND 35)"

    head = prefix + _POD
    bits1 = _checksum(head + "0" * 10)[0]
    alphabet = _CHECKSUM_ALPHABET
    bits3 = " + ".join(f"{upper(d)} * {1 << i}" for i, d in enumerate(digits[-5:]))
    last = f"substr('{alphabet}', ({bits3}) + 1, 1)"
    if width == 5:
        return f"('{head}00000' || {chars} || '{bits1}A' || {last})"
    bits2 = " + ".join(f"{upper(d)} * {1 << (i + 1)}" for i, d in enumerate(digits[:4]))
    return (f"('{head}0' || {chars} || '{bits1}' || substr('{alphabet}', ({bits2}) + 1, 1)"
            f" || {last})")


def _hash(expr: str, salt: int) -> str:
    """A deterministic pseudo-random non-negative integer from ``expr`` (SQL)."""
    return f"(((({expr}) + {salt}) * 2654435761 + {salt * 40503 + 12345}) % 4294967291)"


def _pick(values: Sequence[Any], expr: str, salt: int, params: list[Any]) -> str:
    """SQL choosing one of ``values`` (bound as parameters) by a hash of ``expr``."""
    cases = []
    for i, v in enumerate(values):
        params.append(v)
        cases.append(f"WHEN {i} THEN ?{len(params)}")
    return f"(CASE {_hash(expr, salt)} % {len(values)} {' '.join(cases)} END)"


def _nth(values: Sequence[Any], expr: str, params: list[Any]) -> str:
    """SQL choosing ``values[expr]`` (bound as parameters)."""
    cases = []
    for i, v in enumerate(values):
        params.append(v)
        cases.append(f"WHEN {i} THEN ?{len(params)}")
    return f"(CASE {expr} {' '.join(cases)} END)"


def _timestamp(expr: str, salt: int) -> str:
    return (f"strftime('%Y-%m-%dT%H:%M:%S.000Z', {ANCHOR_EPOCH} - ({_hash(expr, salt)} % "
            f"{THREE_YEARS}), 'unixepoch')")


def _counter(count: int, salt: int) -> str:
    """A recursive counter of ``i`` with a CreatedDate ``ts`` computed once per row."""
    first, nxt = _timestamp("0", salt), _timestamp("i + 1", salt)
    return (f"WITH RECURSIVE s(i, ts) AS (SELECT 0, {first} UNION ALL SELECT i + 1, {nxt} "
            f"FROM s WHERE i + 1 < {int(count)})")


def _insert(conn: sqlite3.Connection, table: str, columns: dict[str, str], count: int,
            params: list[Any], source: str | None = None) -> None:
    """INSERT … SELECT one row per ``i``: from a counter, or from ``source`` rows.

    A ``source`` (rows of an already seeded parent table) lets children read their
    parent's Id instead of recomputing it, which is most of the cost per row.
    """
    if count <= 0:
        return
    names = ", ".join(f'"{c}"' for c in columns)
    exprs = ", ".join(columns.values())
    if source is None:
        prefix, rows = _counter(count, salt=int(params[1])) + " ", "s"
    else:
        prefix, rows = "", f"({source}) s"
    conn.execute(
        f'{prefix}INSERT INTO "{table}" (rid, {names}) SELECT '
        f"first_rid + i, {exprs} FROM {rows}, (SELECT ?1 AS first_rid, ?2 AS seed) k",
        params,
    )


def _rows_of(table: str, first: int, count: int, every: int = 1,
             copies: int = 1) -> str:
    """SQL listing seeded ``table`` rows as children-to-be.

    Columns: ``i`` (the child's index), ``pid`` (the parent's Id), ``pacc`` (the parent's
    AccountId, or its Id for accounts) and ``ts`` (the parent's CreatedDate, reused so the
    timestamp is formatted once per family rather than three times per row).
    """
    first, count, every = int(first), int(count), int(every)
    where = f"p.rid >= {first} AND p.rid < {first + count}"
    if every > 1:
        where += f" AND (p.rid - {first}) % {every} = 0"
    account = '"AccountId"' if table == "Contact" else '"Id"'
    columns = f'p."Id" AS pid, p.{account} AS pacc, p."CreatedDate" AS ts'
    if copies > 1:
        copy = " UNION ALL ".join(f"SELECT {j} AS j" for j in range(copies))
        return (f"SELECT (p.rid - {first}) * {copies} + c.j AS i, {columns} "
                f'FROM "{table}" p, ({copy}) c WHERE {where}')
    return f'SELECT (p.rid - {first}) / {every} AS i, {columns} FROM "{table}" p WHERE {where}'


def seed(store: Store, n_accounts: int, *, seed: int = 0) -> SeedResult:
    """Fill ``store`` with ``n_accounts`` accounts and their related records."""
    n = int(n_accounts)
    users = _seed_users(store)
    n_contacts = n * 2
    n_opps = n
    n_cases = (n + 1) // 2
    n_invoices = (n + 4) // 5
    n_tasks = (n + 9) // 10
    with _bulk_mode(store), store.transaction():
        conn = store._conn()
        a0 = store.ids.reserve("001", n)
        c0 = store.ids.reserve("003", n_contacts)
        o0 = store.ids.reserve("006", n_opps)
        k0 = store.ids.reserve("500", n_cases)
        i0 = store.ids.reserve("a00", n_invoices)
        t0 = store.ids.reserve("00T", n_tasks)
        case_no0 = store.ids.reserve("CaseNumber", n_cases)
        s = seed * 7919
        bound = max(a0 + n, c0 + n_contacts, o0 + n_opps, k0 + n_cases, i0 + n_invoices,
                    t0 + n_tasks)
        if bound >= _FAST_ID_BOUND:
            raise ValueError("seeding this many records needs Ids past the fast range")
        tables = ["Account", "Contact", "Opportunity", "Case", "Invoice__c", "Task"]
        objects = [store.catalog.get(t) for t in tables]
        for obj in objects:
            store.drop_indexes(conn, obj)
        _accounts(conn, n, a0, s, users)
        _contacts(conn, n_contacts, c0, a0, n, s, users)
        _opportunities(conn, n_opps, o0, a0, n, s, users)
        _cases(conn, n_cases, k0, a0, c0, n, s, users, case_no0)
        _invoices(conn, n_invoices, i0, a0, c0, n, s, users)
        _tasks(conn, n_tasks, t0, c0, o0, s, users)
        for obj in objects:
            store.create_indexes(conn, obj)
    return SeedResult(len(users), n, n_contacts, n_opps, n_cases, n_invoices, n_tasks)


@contextlib.contextmanager
def _bulk_mode(store: Store) -> Iterator[None]:
    """Write the seed through a rollback journal when no other connection is open.

    Appended pages need no journal entry, whereas WAL would write every page twice (to the
    log, then to the database). With readers connected, WAL stays and seeding still works.
    """
    conn = store._conn()
    with store._write_lock:
        switched = False
        if len(store._connections) == 1:
            try:
                mode = conn.execute("PRAGMA journal_mode = DELETE").fetchone()[0]
                switched = str(mode).lower() == "delete"
            except sqlite3.OperationalError:
                switched = False  # another process has the file open: stay in WAL
        try:
            yield
        finally:
            if switched:
                conn.execute("PRAGMA journal_mode = WAL")


def _seed_users(store: Store) -> list[str]:
    ids = [store.admin_user_id]
    for first, last, title in SEED_USERS:
        username = f"{first.lower()}.{last.lower()}@devorg.local".replace("é", "e")
        found = store._conn().execute(
            'SELECT "Id" FROM "User" WHERE "Username" = ?', (username,)
        ).fetchone()
        if found:
            ids.append(found[0])
            continue
        ids.append(store.create("User", {
            "Username": username, "FirstName": first, "LastName": last,
            "Alias": (first[:1] + last[:4]).lower(), "Email": username, "Title": title,
            "TimeZoneSidKey": "Europe/London", "LocaleSidKey": "en_GB",
            "EmailEncodingKey": "UTF-8", "LanguageLocaleKey": "en_US",
            "ProfileName__c": "Standard User", "CompanyName": "DevOrg",
        }))
    return ids


def _system(params: list[Any], users: list[str], salt: int) -> dict[str, str]:
    owner = _pick(users, "i", salt + 1, params)
    created = "ts"
    return {
        "IsDeleted": "0",
        "OwnerId": owner,
        "CreatedById": _pick(users, "i", salt + 3, params),
        "CreatedDate": created,
        "LastModifiedById": _pick(users, "i", salt + 4, params),
        "LastModifiedDate": created,
        "SystemModstamp": created,
    }


def _hard_or(expr: str, values: Sequence[str], every: int, salt: int,
             params: list[Any]) -> str:
    """``expr``, except that one row in ``every`` gets one of the hard ``values``."""
    return (f"(CASE WHEN {_hash('i', salt)} % {every} = 0 THEN "
            f"{_pick(values, 'i', salt + 1, params)} ELSE {expr} END)")


def _accounts(conn: sqlite3.Connection, n: int, a0: int, s: int, users: list[str]) -> None:
    params: list[Any] = [a0, s]
    cities = CITIES
    city_i = f"({_hash('i', s + 10)} % {len(cities)})"

    def city_part(k: int) -> str:
        cases = []
        for j, c in enumerate(cities):
            params.append(c[k])
            cases.append(f"WHEN {j} THEN ?{len(params)}")
        return f"(CASE {city_i} {' '.join(cases)} END)"

    company = (f"{_pick(COMPANY_WORDS, 'i', s + 11, params)} || ' ' || "
               f"{_pick(COMPANY_WORDS, 'i', s + 12, params)} || ' ' || "
               f"{_pick(COMPANY_SUFFIXES, 'i', s + 13, params)}")
    long_text = ("Long account history. " + "Ünïcödé 長いテキスト 🚀, \"quoted\", comma\n" * 700)
    params_long = len(params)
    params.append(long_text)
    description = (
        f"(CASE WHEN i % 25000 = 7 THEN ?{params_long + 1} "
        f"WHEN {_hash('i', s + 14)} % 5 = 0 THEN NULL "
        f"WHEN {_hash('i', s + 14)} % 5 = 1 THEN {_pick(HARD_TEXT, 'i', s + 15, params)} "
        f"ELSE 'Customer since ' || (2000 + i % 25) || '. Key contact: ' || "
        f"{_pick(FIRST_NAMES, 'i', s + 16, params)} || '.' END)"
    )
    # The first accounts always carry the hard names, so even a small seed has them all.
    numbered = company + " || ' #' || (i + 1)"
    name = (f"(CASE WHEN i < {len(HARD_NAMES)} THEN {_nth(HARD_NAMES, 'i', params)} "
            f"ELSE {_hard_or(numbered, HARD_NAMES, 97, s + 17, params)} END)")
    columns = {
        "Id": _sid("001", "first_rid + i"),
        "Name": name,
        "Type": _pick(ACCOUNT_TYPES + [None], "i", s + 18, params),
        "ParentId": f"(CASE WHEN i >= 10 AND i % 10 = 3 THEN {_sid('001', 'first_rid + i - 3')}"
                    " END)",
        "BillingStreet": f"(CASE WHEN i % 13 = 0 THEN NULL WHEN i % 13 = 1 THEN "
                         f"(1 + i % 900) || ' ' || {_pick(STREETS, 'i', s + 19, params)} || "
                         f"char(10) || 'Suite ' || (100 + i % 50) ELSE "
                         f"(1 + i % 900) || ' ' || {_pick(STREETS, 'i', s + 19, params)} END)",
        "BillingCity": city_part(0),
        "BillingState": city_part(1),
        "BillingCountry": city_part(2),
        "BillingPostalCode": city_part(3),
        "Phone": "(CASE WHEN i % 11 = 0 THEN NULL ELSE printf('+1 (%03d) 555-%04d', "
                 "200 + i % 700, i % 10000) END)",
        "AccountNumber": "printf('AN-%08d', i + 1)",
        "Website": "(CASE WHEN i % 7 = 0 THEN NULL ELSE 'https://www.example-' || (i + 1) "
                   "|| '.com' END)",
        "Industry": _pick(INDUSTRIES + [None], "i", s + 20, params),
        "AnnualRevenue": f"(CASE WHEN i % 9 = 0 THEN NULL ELSE "
                         f"CAST({_hash('i', s + 21)} % 500000000 AS REAL) END)",
        "NumberOfEmployees": f"(CASE WHEN i % 8 = 0 THEN NULL ELSE 1 + {_hash('i', s + 22)}"
                             " % 200000 END)",
        "Ownership": _pick(["Public", "Private", "Subsidiary", None], "i", s + 23, params),
        "Description": description,
        "Rating": _pick(RATINGS + [None], "i", s + 24, params),
        "Site": _pick(["HQ", "Branch", "Warehouse", None], "i", s + 25, params),
        "AccountSource": _pick(SOURCES, "i", s + 26, params),
        "External_Id__c": "printf('ACC-%08d', first_rid + i)",
        "Regions__c": _pick(REGIONS, "i", s + 27, params),
        "Health_Score__c": f"(CASE WHEN i % 6 = 0 THEN NULL ELSE "
                           f"({_hash('i', s + 28)} % 10001) / 100.0 END)",
        "Active__c": f"(CASE WHEN {_hash('i', s + 29)} % 4 = 0 THEN 0 ELSE 1 END)",
        **_system(params, users, s + 30),
    }
    _insert(conn, "Account", columns, n, params)


def _contacts(conn: sqlite3.Connection, count: int, c0: int, a0: int, n_accounts: int,
              s: int, users: list[str]) -> None:
    params: list[Any] = [c0, s]
    first = f"(CASE WHEN i % 17 = 5 THEN NULL ELSE {_pick(FIRST_NAMES, 'i', s + 40, params)} END)"
    last = _hard_or(_pick(LAST_NAMES, "i", s + 41, params),
                    ["O'Hara-Smith, Jr.", 'The "Boss"', "李", "🙂 Smiley", "Line\nFeed"],
                    211, s + 42, params)
    columns = {
        "Id": _sid("003", "first_rid + i"),
        # Every account gets two contacts; one in 50 is a private contact (no account).
        "AccountId": "(CASE WHEN i % 50 = 49 THEN NULL ELSE pid END)",
        "FirstName": first,
        "LastName": last,
        "Salutation": _pick(["Mr.", "Ms.", "Dr.", None, None], "i", s + 43, params),
        "Name": f"(CASE WHEN {first} IS NULL THEN {last} ELSE {first} || ' ' || {last} END)",
        "Email": "(CASE WHEN i % 10 = 0 THEN NULL ELSE 'contact' || (first_rid + i) || "
                 "'@example.com' END)",
        "Phone": "(CASE WHEN i % 3 = 0 THEN NULL ELSE printf('+44 20 7946 %04d', i % 10000) "
                 "END)",
        "Title": _pick(TITLES + [None], "i", s + 44, params),
        "Department": _pick(["Sales", "IT", "Finance", "Operations", None], "i", s + 45,
                            params),
        "Birthdate": f"(CASE WHEN i % 4 = 0 THEN NULL ELSE date(-7300 - "
                     f"({_hash('i', s + 46)} % 18000), 'unixepoch') END)",
        "MailingCity": _pick([c[0] for c in CITIES], "i", s + 47, params),
        "MailingCountry": _pick([c[2] for c in CITIES], "i", s + 47, params),
        "LeadSource": _pick(SOURCES + [None], "i", s + 48, params),
        "Description": f"(CASE WHEN i % 5 = 0 THEN {_pick(HARD_TEXT, 'i', s + 49, params)} END)",
        "HasOptedOutOfEmail": "(i % 9 = 0)",
        "DoNotCall": "(i % 13 = 0)",
        "External_Id__c": "printf('CON-%08d', first_rid + i)",
        **_system(params, users, s + 50),
    }
    _insert(conn, "Contact", columns, count, params,
            source=_rows_of("Account", a0, n_accounts, copies=2))


def _opportunities(conn: sqlite3.Connection, count: int, o0: int, a0: int, n_accounts: int,
                   s: int, users: list[str]) -> None:
    params: list[Any] = [o0, s]
    stage_i = f"({_hash('i', s + 60)} % {len(STAGES)})"

    def stage_part(k: int) -> str:
        cases = []
        for j, st in enumerate(STAGES):
            params.append(st[k])
            cases.append(f"WHEN {j} THEN ?{len(params)}")
        return f"(CASE {stage_i} {' '.join(cases)} END)"

    amount = f"(CASE WHEN i % 12 = 0 THEN NULL ELSE ({_hash('i', s + 61)} % 10000000) / 100.0 END)"
    columns = {
        "Id": _sid("006", "first_rid + i"),
        "AccountId": "pid",
        "Name": f"{_pick(COMPANY_WORDS, 'i', s + 62, params)} || ' - ' || "
                f"{_pick(['Renewal', 'Upsell', 'New Business', 'Expansion', 'Pilot'], 'i', s + 63, params)}"
                " || ' ' || (i + 1)",
        "Description": f"(CASE WHEN i % 7 = 0 THEN {_pick(HARD_TEXT, 'i', s + 64, params)} END)",
        "StageName": stage_part(0),
        "Amount": amount,
        "Probability": stage_part(1),
        "ExpectedRevenue": f"round({amount} * {stage_part(1)} / 100.0, 2)",
        "ForecastCategoryName": stage_part(2),
        "IsClosed": f"({stage_i} >= 6)",
        "IsWon": f"({stage_i} = 6)",
        "CloseDate": f"date({ANCHOR_EPOCH} - 31536000 + ({_hash('i', s + 65)} % 63072000), "
                     "'unixepoch')",
        "Type": _pick(["Existing Customer - Upgrade", "New Customer", None], "i", s + 66,
                      params),
        "LeadSource": _pick(SOURCES, "i", s + 67, params),
        "TotalOpportunityQuantity": "(CASE WHEN i % 3 = 0 THEN NULL ELSE 1 + i % 40 END)",
        "External_Id__c": "printf('OPP-%08d', first_rid + i)",
        **_system(params, users, s + 70),
    }
    _insert(conn, "Opportunity", columns, count, params,
            source=_rows_of("Account", a0, n_accounts))


def _cases(conn: sqlite3.Connection, count: int, k0: int, a0: int, c0: int, n_accounts: int,
           s: int, users: list[str], case_no0: int) -> None:
    params: list[Any] = [k0, s]
    status = _pick(CASE_STATUS, "i", s + 80, params)
    columns = {
        "Id": _sid("500", "first_rid + i"),
        "CaseNumber": f"printf('%08d', {case_no0} + i)",
        "AccountId": "pacc",
        "ContactId": "pid",
        "Subject": _hard_or(_pick(["Cannot log in", "Invoice question", "Feature request",
                                   "Outage report", "Data export failing"], "i", s + 81,
                                  params) + " || ' #' || (i + 1)",
                            ["Error: \"timeout\", retrying", "Ошибка входа", "ログインできません",
                             "🔥 Production down 🔥"], 37, s + 82, params),
        "Status": status,
        "IsClosed": f"({status} = 'Closed')",
        "Origin": _pick(CASE_ORIGIN, "i", s + 83, params),
        "Priority": _pick(PRIORITIES, "i", s + 84, params),
        "Type": _pick(["Mechanical", "Electrical", "Electronic", "Structural", "Other", None],
                      "i", s + 85, params),
        "Reason": _pick(["Installation", "Performance", "Breakdown", "Feedback", None],
                        "i", s + 86, params),
        "Description": f"(CASE WHEN i % 3 = 0 THEN {_pick(HARD_TEXT, 'i', s + 87, params)} "
                       f"WHEN i % 3 = 1 THEN 'Customer reported:' || char(13, 10) || "
                       f"'Steps to reproduce, \"exactly\" as described.' END)",
        "SuppliedEmail": "(CASE WHEN i % 4 = 0 THEN 'reporter' || i || '@example.org' END)",
        "IsEscalated": "(i % 20 = 0)",
        **_system(params, users, s + 90),
    }
    columns["ClosedDate"] = f"(CASE WHEN {status} = 'Closed' THEN {columns['CreatedDate']} END)"
    _insert(conn, "Case", columns, count, params,
            source=_rows_of("Contact", c0, 2 * n_accounts, every=4))


def _invoices(conn: sqlite3.Connection, count: int, i0: int, a0: int, c0: int,
              n_accounts: int, s: int, users: list[str]) -> None:
    params: list[Any] = [i0, s]
    long_notes = "Invoice notes — long body with 多字节 text and \"quotes\", commas.\r\n" * 1700
    params.append(long_notes)
    long_index = len(params)
    columns = {
        "Id": _sid("a00", "first_rid + i"),
        "Name": "printf('INV-%07d', first_rid + i)",
        "Account__c": "pid",
        "Contact__c": f"(CASE WHEN i % 2 = 0 THEN {_sid('003', f'{c0} + i * 10')} END)",
        "External_Id__c": "printf('INV-EXT-%08d', first_rid + i)",
        "Amount__c": f"({_hash('i', s + 100)} % 5000000) / 100.0",
        "Discount__c": f"(CASE WHEN i % 3 = 0 THEN ({_hash('i', s + 101)} % 3000) / 100.0 END)",
        "Quantity__c": "(1 + i % 25)",
        "Line_Count__c": "(1 + i % 12)",
        "Status__c": _pick(INVOICE_STATUS, "i", s + 102, params),
        "Tags__c": _pick(TAGS, "i", s + 103, params),
        "Paid__c": f"({_hash('i', s + 104)} % 2)",
        "Due_Date__c": f"date({ANCHOR_EPOCH} - ({_hash('i', s + 105)} % 31536000), 'unixepoch')",
        "Issued_At__c": _timestamp("i", s + 106),
        "Due_Time__c": "printf('%02d:%02d:00.000Z', i % 24, (i * 7) % 60)",
        "Contact_Email__c": "'billing' || i || '@example.net'",
        "Portal_Link__c": "'https://portal.example.net/invoices/' || (first_rid + i)",
        "Notes__c": f"(CASE WHEN i % 5000 = 3 THEN ?{long_index} WHEN i % 4 = 0 THEN "
                    f"{_pick(HARD_TEXT, 'i', s + 107, params)} END)",
        "Summary__c": "(CASE WHEN i % 2 = 1 THEN 'Line 1' || char(10) || 'Line 2' END)",
        **_system(params, users, s + 110),
    }
    _insert(conn, "Invoice__c", columns, count, params,
            source=_rows_of("Account", a0, n_accounts, every=5))


def _tasks(conn: sqlite3.Connection, count: int, t0: int, c0: int, o0: int, s: int,
           users: list[str]) -> None:
    params: list[Any] = [t0, s]
    status = _pick(["Not Started", "In Progress", "Completed", "Deferred"], "i", s + 120,
                   params)
    columns = {
        "Id": _sid("00T", "first_rid + i"),
        "WhoId": _sid("003", f"{c0} + i * 20"),
        "WhatId": "pid",
        "Subject": _pick(["Call", "Email", "Send quote", "Follow up", "Demo"], "i", s + 121,
                         params),
        "ActivityDate": f"date({ANCHOR_EPOCH} - ({_hash('i', s + 122)} % 31536000), "
                        "'unixepoch')",
        "Status": status,
        "Priority": _pick(["High", "Normal", "Low"], "i", s + 123, params),
        "IsClosed": f"({status} = 'Completed')",
        "Description": f"(CASE WHEN i % 2 = 0 THEN {_pick(HARD_TEXT, 'i', s + 124, params)} END)",
        "TaskSubtype": _pick(["Task", "Email", "Call"], "i", s + 125, params),
        **_system(params, users, s + 126),
    }
    _insert(conn, "Task", columns, count, params,
            source=_rows_of("Opportunity", o0, count * 10, every=10))
