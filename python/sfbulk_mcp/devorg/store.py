"""The devorg's SQLite store: one table per sObject, validated CRUD, queries, search.

Values are kept in SQLite in the form Bulk API 2.0 writes them (dates ``YYYY-MM-DD``,
datetimes ``YYYY-MM-DDTHH:MM:SS.sssZ``, booleans 0/1, multipicklists ``;``-joined), so that
streaming a query out costs almost nothing; REST shapes are built on the way out.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import decimal
import math
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .catalog import ID_TYPES, Catalog, FieldDef, SObjectDef, default_catalog
from .errors import DevOrgError, no_such_column, not_found
from .ids import IdFactory, is_valid_id, make_id, normalize_id, sequence_of

DEFAULT_API_VERSION = "60.0"
SCHEMA_VERSION = "1"
# SQLite's default: a commit copies the write-ahead log into the database past this many pages.
WAL_AUTOCHECKPOINT_PAGES = 1000
ADMIN_USERNAME = "admin@devorg.local"
INTEGRATION_USERNAME = "integration@devorg.local"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?$"
)
_TIME = re.compile(r"^(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z)?$")


class MultipleMatchesError(DevOrgError):
    """An upsert whose external id matched several records.

    REST answers HTTP 300 with the matching record URLs; row-level results (Bulk, sObject
    collections) carry Salesforce's DUPLICATE_EXTERNAL_ID error.
    """

    def __init__(self, sobject: str, field: str, record_ids: list[str], *,
                 label: str | None = None) -> None:
        super().__init__(
            "DUPLICATE_EXTERNAL_ID",
            f"{label or field}: more than one record found for external id field: "
            f"[{', '.join(record_ids)}]",
            status=300,
            fields=[field],
        )
        self.sobject = sobject
        self.record_ids = record_ids


def utc_now_text(now: dt.datetime) -> str:
    """A UTC datetime in the stored (Bulk) form ``YYYY-MM-DDTHH:MM:SS.sssZ``."""
    now = now.astimezone(dt.UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def rest_datetime(stored: str) -> str:
    """Stored ``...sssZ`` → REST's ``...sss+0000``."""
    return stored[:-1] + "+0000" if stored.endswith("Z") else stored


def _fold_text(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _is_id_clash(exc: sqlite3.IntegrityError) -> bool:
    text = str(exc)
    return text.endswith((".rid", ".Id"))


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_type(f: FieldDef) -> str:
    if f.type in ID_TYPES:
        return "TEXT"
    if f.type in ("boolean", "int"):
        return "INTEGER"
    if f.type in ("double", "currency", "percent"):
        return "REAL"
    if f.type == "base64":
        return "BLOB"
    if f.is_text and not f.case_sensitive:
        return "TEXT COLLATE NOCASE"
    return "TEXT"


class QueryResult:
    """What a SOQL query returned, in REST shape.

    ``records`` is a sequence (index, slice, iterate, len); large results build their
    record dicts only when read.
    """

    def __init__(self, records: Sequence[dict[str, Any]], total_size: int,
                 columns: list[str]) -> None:
        self.records = records
        self.total_size = total_size
        self.columns = columns

    def __repr__(self) -> str:
        return f"QueryResult(total_size={self.total_size}, records={len(self.records)})"


class Store:
    """A SQLite-backed org: catalog, records, SOQL, SOSL. Thread-safe."""

    def __init__(
        self,
        path: str | Path,
        *,
        catalog: Catalog | None = None,
        api_version: str = DEFAULT_API_VERSION,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.path = Path(path)
        self.catalog = catalog or default_catalog()
        self.api_version = api_version
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._write_lock = threading.RLock()
        # Bumped by every committed write transaction: with the store connections' change
        # counts, two snapshots taken at one generation see the same data.
        self._generation = 0
        # Queries found clean (`remember_clean`), and at which generation.
        self._clean_queries: dict[tuple[str, tuple[Any, ...]], int] = {}
        self._closed = False
        self.ids = IdFactory()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._migrate()
        self.admin_user_id = self._ensure_user(
            ADMIN_USERNAME, "Admin", "User", "admin", "System Administrator"
        )
        self.integration_user_id = self._ensure_user(
            INTEGRATION_USERNAME, "Integration", "User", "integ", "Integration User"
        )

    # --- connections and transactions -------------------------------------------------

    def connect(self) -> sqlite3.Connection:
        """A new connection to the store's file (caller closes it)."""
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=60.0
        )
        conn.execute("PRAGMA busy_timeout = 60000")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        from .sosl import sosl_match

        conn.create_function("sosl_match", 2, sosl_match, deterministic=True)
        # Unicode-aware lower case for comparisons SQLite's NOCASE (ASCII only) gets wrong.
        conn.create_function("sf_fold", 1, _fold_text, deterministic=True)
        return conn

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise RuntimeError("store is closed")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self.connect()
            self._local.conn = conn
            self._local.depth = 0
            with self._connections_lock:
                self._connections.append(conn)
        return conn

    def now(self) -> dt.datetime:
        """The store's clock (UTC)."""
        return self._clock()

    @contextlib.contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Many writes from this thread: its commits leave the write-ahead log to grow
        instead of copying it into the database every 1,000 pages; call `checkpoint` once
        the load is reported done."""
        conn = self._conn()
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")

    @contextlib.contextmanager
    def outside_write(self) -> Iterator[None]:
        """A write to this database on a connection of its own (the engine's bulk inserts):
        held apart from the store's writers, and seen by its readers as a change."""
        with self._write_lock:
            yield
            self._generation += 1

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database as far as readers allow."""
        self._conn().execute("PRAGMA wal_checkpoint(PASSIVE)")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-none group of writes; nests (inner groups are savepoints)."""
        conn = self._conn()
        with self._write_lock:
            depth: int = self._local.depth
            if depth == 0:
                conn.execute("BEGIN IMMEDIATE")
            else:
                conn.execute(f"SAVEPOINT sp{depth}")
            self._local.depth = depth + 1
            try:
                yield
            except BaseException:
                self._local.depth = depth
                if depth == 0:
                    conn.execute("ROLLBACK")
                else:
                    conn.execute(f"ROLLBACK TO sp{depth}")
                    conn.execute(f"RELEASE sp{depth}")
                raise
            self._local.depth = depth
            if depth == 0:
                conn.execute("COMMIT")
                self._generation += 1
            else:
                conn.execute(f"RELEASE sp{depth}")

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """No write of the store's is under way while this holds (a reader on a connection of
        its own begins its snapshot here)."""
        with self._write_lock:
            yield

    def begin_snapshot(self, conn: sqlite3.Connection) -> int:
        """Open a read transaction on `conn` (one of `connect`'s) and return its generation.

        Taken under the write lock, so no write is half-way through: two snapshots of the same
        generation see the same rows. The caller ends it (closing the connection does).
        """
        with self._write_lock:
            conn.execute("BEGIN")
            # The first read fixes a WAL snapshot; BEGIN alone does not.
            conn.execute("SELECT 1 FROM _meta LIMIT 1").fetchall()
            return self._write_generation()

    def _write_generation(self) -> int:
        # Committed write transactions, plus the rows changed on the store's connections by
        # any statement (a write made outside `transaction` counts too).
        with self._connections_lock:
            changed = sum(conn.total_changes for conn in self._connections)
        return self._generation * (1 << 40) + changed

    def known_clean(self, query: str, params: Sequence[Any], generation: int) -> bool:
        """True when `query` with `params` was found clean (see `remember_clean`) and nothing
        has been written since (`generation` is the caller's snapshot's, `begin_snapshot`)."""
        return self._clean_queries.get((query, tuple(params))) == generation

    def remember_clean(self, query: str, params: Sequence[Any], generation: int) -> None:
        """Note that `query` returned nothing needing special care in a snapshot of
        `generation`: until the next write, the same query can skip its checks."""
        with self._write_lock:
            if len(self._clean_queries) > 256:
                self._clean_queries.clear()
            self._clean_queries[(query, tuple(params))] = generation

    def close(self) -> None:
        """Close every connection the store opened."""
        self._closed = True
        with self._connections_lock:
            for conn in self._connections:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
            self._connections.clear()

    def __enter__(self) -> Store:  # noqa: PYI034 - Store is not meant to be subclassed
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schema -----------------------------------------------------------------------

    def _migrate(self) -> None:
        conn = self._conn()
        conn.execute("PRAGMA journal_mode = WAL")
        with self.transaction():
            conn.execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS _sequence (prefix TEXT PRIMARY KEY, next INTEGER)"
            )
            for obj in self.catalog:
                self._create_table(conn, obj)
            conn.execute(
                "INSERT OR REPLACE INTO _meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
            )
        for obj in self.catalog:
            row = conn.execute(f"SELECT max(rid) FROM {_quote(obj.table)}").fetchone()
            if row[0]:
                self.ids.advance_past(obj.key_prefix, int(row[0]))
        for prefix, nxt in conn.execute("SELECT prefix, next FROM _sequence"):
            self.ids.advance_past(prefix, int(nxt) - 1)
        # Counters derived from data: case numbers and ContentDocument ids.
        top_case = conn.execute('SELECT max(CAST("CaseNumber" AS INTEGER)) FROM "Case"').fetchone()
        if top_case[0]:
            self.ids.advance_past("CaseNumber", int(top_case[0]))
        top_doc = conn.execute('SELECT max("ContentDocumentId") FROM "ContentVersion"').fetchone()
        if top_doc[0]:
            self.ids.advance_past("069", sequence_of(top_doc[0]) or 0)

    def _create_table(self, conn: sqlite3.Connection, obj: SObjectDef) -> None:
        table = _quote(obj.table)
        existing = {r[1].lower() for r in conn.execute(f"PRAGMA table_info({table})")}
        if not existing:
            cols = ["rid INTEGER PRIMARY KEY"]
            for f in obj.stored_fields():
                extra = " NOT NULL UNIQUE" if f.type == "id" else ""
                cols.append(f"{_quote(f.name)} {_sql_type(f)}{extra}")
            if obj.field("IsDeleted") is None:
                cols.append('"IsDeleted" INTEGER NOT NULL DEFAULT 0')
            conn.execute(f"CREATE TABLE {table} ({', '.join(cols)})")
        else:
            # A newer catalog may add fields: add their columns, keep the data.
            for f in obj.stored_fields():
                if f.name.lower() not in existing:
                    conn.execute(f"ALTER TABLE {table} ADD COLUMN {_quote(f.name)} {_sql_type(f)}")
        self.create_indexes(conn, obj)

    def index_statements(self, obj: SObjectDef) -> list[tuple[str, str]]:
        """(index name, CREATE statement) for each secondary index of ``obj``'s table."""
        out = []
        table = _quote(obj.table)
        for f in obj.stored_fields():
            name = f"ix_{obj.name}_{f.name}"
            if f.unique:
                sql = f"CREATE UNIQUE INDEX IF NOT EXISTS {_quote(name)} ON {table}"
                out.append((name, f"{sql} ({_quote(f.name)})"))
            elif f.external_id or (f.type == "reference" and f.child_relationship):
                # Indexed: upsert lookups and child-relationship subqueries, which only look
                # for values. Leaving nulls out keeps inserts of rows without one cheap.
                sql = f"CREATE INDEX IF NOT EXISTS {_quote(name)} ON {table}"
                column = _quote(f.name)
                out.append((name, f"{sql} ({column}) WHERE {column} IS NOT NULL"))
        return out

    def create_indexes(self, conn: sqlite3.Connection, obj: SObjectDef) -> None:
        """Create ``obj``'s secondary indexes (no-op for those that exist)."""
        for _, statement in self.index_statements(obj):
            conn.execute(statement)

    def drop_indexes(self, conn: sqlite3.Connection, obj: SObjectDef) -> None:
        """Drop ``obj``'s non-unique secondary indexes (bulk loads rebuild them after)."""
        for name, statement in self.index_statements(obj):
            if "UNIQUE" not in statement:
                conn.execute(f"DROP INDEX IF EXISTS {_quote(name)}")

    def _ensure_user(self, username: str, first: str, last: str, alias: str,
                     profile: str) -> str:
        conn = self._conn()
        row = conn.execute('SELECT "Id" FROM "User" WHERE "Username" = ?', (username,)).fetchone()
        if row:
            return str(row[0])
        values = {
            "Username": username, "FirstName": first, "LastName": last, "Alias": alias,
            "Email": username, "TimeZoneSidKey": "GMT", "LocaleSidKey": "en_US",
            "EmailEncodingKey": "UTF-8", "LanguageLocaleKey": "en_US",
            "ProfileName__c": profile, "CompanyName": "DevOrg",
        }
        record_id = self.ids.new_id("005")
        with self.transaction():
            # The first user creates itself: it is its own owner and creator.
            self._insert("User", values, user_id=record_id, record_id=record_id)
        return record_id

    # --- describe ---------------------------------------------------------------------

    def describe_global(self, api_version: str | None = None) -> dict[str, Any]:
        """The ``/sobjects`` body (describeGlobal)."""
        version = api_version or self.api_version
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [o.describe_global_entry(version)
                         for o in sorted(self.catalog, key=lambda o: o.name)],
        }

    def describe(self, sobject: str, api_version: str | None = None) -> dict[str, Any]:
        """The ``/sobjects/X/describe`` body; INVALID_TYPE for an unknown object."""
        return self.catalog.get(sobject).describe(api_version or self.api_version)

    def sobject_for_id(self, record_id: str) -> str:
        """The sObject an Id belongs to, by key prefix."""
        record_id = normalize_id(record_id)
        obj = self.catalog.by_prefix(record_id[:3])
        if obj is None:
            raise DevOrgError(
                "INVALID_ID_FIELD", f"Invalid Id for any known object: {record_id}", status=404
            )
        return obj.name

    # --- validation -------------------------------------------------------------------

    def validate_values(
        self, sobject: str, values: dict[str, Any], *, for_insert: bool
    ) -> dict[str, Any]:
        """Check and coerce field values; returns {field API name: stored value}.

        Accepts JSON-native values and their string forms ("true", "2024-01-31", "12.5").
        ``None`` sets null. Raises DevOrgError with Salesforce's errorCode.
        """
        obj = self.catalog.get(sobject)
        out: dict[str, Any] = {}
        not_writable: list[str] = []
        for key, value in values.items():
            if key == "attributes":
                continue
            f = obj.field(key)
            if f is None:
                raise DevOrgError(
                    "INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}",
                    fields=[key],
                )
            if not (f.createable if for_insert else f.updateable):
                not_writable.append(f.name)
                continue
            out[f.name] = coerce_value(f, value)
        if not_writable:
            raise DevOrgError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(not_writable)}. Please check the "
                "security settings of this field and verify that it is read/write for your "
                "profile or permission set.",
                fields=not_writable,
            )
        if for_insert:
            missing = [name for name in obj.required_fields if out.get(name) is None]
        else:
            missing = [name for name in obj.required_fields
                       if name in out and out[name] is None]
        if missing:
            raise DevOrgError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                fields=missing,
            )
        return out

    def _check_references(self, conn: sqlite3.Connection, obj: SObjectDef,
                          values: dict[str, Any]) -> None:
        for name, value in values.items():
            f = obj.field(name)
            if f is None or f.type != "reference" or value is None:
                continue
            target = self.catalog.by_prefix(value[:3])
            allowed = {t.lower() for t in f.reference_to}
            if target is None or target.name.lower() not in allowed:
                if target is None and not any(self.catalog.find(t) for t in f.reference_to):
                    continue  # points at an object the devorg does not model (Campaign)
                raise DevOrgError(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{f.label}: id value of incorrect type: {value}",
                    fields=[f.name],
                )
            row = conn.execute(
                f'SELECT 1 FROM {_quote(target.table)} WHERE "Id" = ? AND "IsDeleted" = 0',
                (value,),
            ).fetchone()
            if row is None:
                # Salesforce names neither the field nor the value here.
                raise DevOrgError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")

    # --- CRUD -------------------------------------------------------------------------

    def create(self, sobject: str, values: dict[str, Any], *, user_id: str | None = None) -> str:
        """Insert one record; returns its 18-char Id."""
        with self.transaction():
            return self._insert(sobject, values, user_id=user_id)

    def _insert(self, sobject: str, values: dict[str, Any], *, user_id: str | None,
                record_id: str | None = None) -> str:
        obj = self.catalog.get(sobject)
        if not obj.createable:
            raise DevOrgError("INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} "
                              "does not support create")
        row = self.validate_values(obj.name, values, for_insert=True)
        conn = self._conn()
        self._check_references(conn, obj, row)
        user = user_id or self.admin_user_id
        now = utc_now_text(self.now())
        if record_id is None:
            record_id = self.ids.new_id(obj.key_prefix)
        for f in obj.fields:
            if f.name in row or not f.stored:
                continue
            if f.default_value is not None and f.type == "boolean":
                row[f.name] = 1 if f.default_value else 0
            elif f.default_picklist is not None:
                row[f.name] = f.default_picklist
        row.update(Id=record_id, CreatedDate=now, LastModifiedDate=now, SystemModstamp=now,
                   CreatedById=user, LastModifiedById=user)
        if obj.field("IsDeleted"):
            row["IsDeleted"] = 0
        if obj.field("OwnerId") and row.get("OwnerId") is None:
            row["OwnerId"] = user
        self._derive(conn, obj, row, None)
        rid = sequence_of(record_id)
        row_items = [(k, v) for k, v in row.items() if obj.field(k) is not None]
        cols = ", ".join(["rid"] + [_quote(k) for k, _ in row_items])
        marks = ", ".join(["?"] * (len(row_items) + 1))
        sql = f"INSERT INTO {_quote(obj.table)} ({cols}) VALUES ({marks})"
        for attempt in range(3):
            try:
                conn.execute(sql, [rid] + [v for _, v in row_items])
                return record_id
            except sqlite3.IntegrityError as exc:
                if attempt == 2 or not _is_id_clash(exc):
                    raise self._duplicate(conn, obj, row, exc) from None
            # Another store on the same file handed out this Id: catch up and retry.
            self._resync_ids(conn, obj)
            record_id = self.ids.new_id(obj.key_prefix)
            row["Id"] = record_id
            rid = sequence_of(record_id)
            row_items = [(k, v) for k, v in row.items() if obj.field(k) is not None]
        return record_id

    def _resync_ids(self, conn: sqlite3.Connection, obj: SObjectDef) -> None:
        top = conn.execute(f"SELECT max(rid) FROM {_quote(obj.table)}").fetchone()[0]
        saved = conn.execute("SELECT next FROM _sequence WHERE prefix = ?",
                             (obj.key_prefix,)).fetchone()
        self.ids.advance_past(obj.key_prefix, max(int(top or 0), int(saved[0]) - 1 if saved
                                                  else 0))

    def _duplicate(self, conn: sqlite3.Connection, obj: SObjectDef, row: dict[str, Any],
                   exc: sqlite3.IntegrityError) -> DevOrgError:
        for f in obj.fields:
            if f.unique and row.get(f.name) is not None:
                other = conn.execute(
                    f'SELECT "Id" FROM {_quote(obj.table)} WHERE {_quote(f.name)} = ? '
                    'AND "Id" != ?',
                    (row[f.name], row.get("Id")),
                ).fetchone()
                if other:
                    return DevOrgError(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with "
                        f"id: {other[0]}",
                        fields=[f.name],
                    )
        return DevOrgError("DUPLICATE_VALUE", f"duplicate value found: {exc}")

    @staticmethod
    def underived_insert(obj: SObjectDef, fields: Sequence[str]) -> frozenset[str] | None:
        """For an insert of `obj` rows naming `fields`: the fields a row must give a value for
        so that `_derive` leaves it as it is, or None if `_derive` may change such rows
        whatever they hold. Bulk inserts skip `_derive` for rows this clears; a new
        derivation in `_derive` must be reflected here (`test_underived_insert_*` checks
        every object).
        """
        if obj.name in ("User", "Opportunity", "Case", "Task", "ContentVersion"):
            return None
        name = obj.field("Name")
        if name is not None and name.computed_from and {"FirstName", "LastName"} & set(fields):
            return None
        if obj.custom and name is not None:
            return frozenset({"Name"}) if "Name" in fields else None
        return frozenset()

    def _derive(self, conn: sqlite3.Connection, obj: SObjectDef, row: dict[str, Any],
                old: dict[str, Any] | None) -> None:
        """Fields Salesforce computes from others (names, stage flags, case numbers)."""
        def current(name: str) -> Any:
            if name in row:
                return row[name]
            return old.get(name) if old else None

        name_field = obj.field("Name")
        if name_field is not None and name_field.computed_from and (
            "FirstName" in row or "LastName" in row
        ):
            row["Name"] = " ".join(
                p for p in (current("FirstName"), current("LastName")) if p
            )
        if obj.name == "User":
            self._derive_profile(conn, row, old)
        if obj.custom and old is None and row.get("Name") is None and obj.field("Name"):
            row["Name"] = row.get("Id")
        if obj.name == "Opportunity" and "StageName" in row:
            stage = row["StageName"]
            row["IsClosed"] = 1 if stage in ("Closed Won", "Closed Lost") else 0
            row["IsWon"] = 1 if stage == "Closed Won" else 0
            if "Probability" not in row:
                row["Probability"] = _STAGE_PROBABILITY.get(stage, current("Probability"))
            if "ForecastCategoryName" not in row:
                row["ForecastCategoryName"] = _STAGE_FORECAST.get(stage, "Pipeline")
        if obj.name == "Opportunity" and ("Amount" in row or "Probability" in row
                                          or "StageName" in row):
            amount, prob = current("Amount"), current("Probability")
            row["ExpectedRevenue"] = (
                None if amount is None or prob is None else round(amount * prob / 100.0, 2)
            )
        if obj.name in ("Case", "Task") and "Status" in row:
            row["IsClosed"] = 1 if row["Status"] in ("Closed", "Completed") else 0
            if obj.name == "Case":
                row["ClosedDate"] = row.get("LastModifiedDate") if row["IsClosed"] else None
        if obj.name == "Case" and old is None:
            seq = self.ids.reserve("CaseNumber", 1)
            row["CaseNumber"] = f"{seq:08d}"
        if obj.name == "ContentVersion" and old is None:
            if row.get("Title") is None:
                base = str(row.get("PathOnClient") or "").replace("\\", "/").rsplit("/", 1)[-1]
                row["Title"] = base.rsplit(".", 1)[0] if "." in base else base
            data = row.get("VersionData")
            row["ContentSize"] = len(data) if data is not None else 0
            path = row.get("PathOnClient") or ""
            ext = path.rsplit(".", 1)[1].lower() if "." in path else ""
            row["FileExtension"] = ext or None
            row["FileType"] = _FILE_TYPES.get(ext, ext.upper() or "UNKNOWN")
            row["VersionNumber"] = "1"
            row["IsLatest"] = 1
            row["ContentDocumentId"] = make_id("069", self.ids.reserve("069", 1))

    def _derive_profile(self, conn: sqlite3.Connection, row: dict[str, Any],
                        old: dict[str, Any] | None) -> None:
        """Keep User.ProfileId and the profile's name (ProfileName__c) in step."""
        if row.get("ProfileId") is not None:
            found = conn.execute('SELECT "Name" FROM "Profile" WHERE "Id" = ?',
                                 (row["ProfileId"],)).fetchone()
            if found:
                row["ProfileName__c"] = found[0]
            return
        if old is not None and "ProfileName__c" not in row:
            return
        name = row.get("ProfileName__c") or "Standard User"
        found = conn.execute('SELECT "Id" FROM "Profile" WHERE "Name" = ?', (name,)).fetchone()
        if found:
            row["ProfileId"] = found[0]
            return
        profile_id = self.ids.new_id("00e")
        creator = row.get("LastModifiedById") or row.get("CreatedById") or self.admin_user_id
        now = utc_now_text(self.now())
        conn.execute(
            'INSERT INTO "Profile" (rid, "Id", "Name", "UserType", "CreatedDate", '
            '"CreatedById", "LastModifiedDate", "LastModifiedById", "SystemModstamp") '
            "VALUES (?, ?, ?, 'Standard', ?, ?, ?, ?, ?)",
            (sequence_of(profile_id), profile_id, name, now, creator, now, creator, now),
        )
        row["ProfileId"] = profile_id
        row.setdefault("ProfileName__c", name)

    def _load_row(self, conn: sqlite3.Connection, obj: SObjectDef,
                  record_id: str) -> dict[str, Any]:
        cursor = conn.execute(
            f'SELECT * FROM {_quote(obj.table)} WHERE "Id" = ?', (record_id,)
        )
        row = cursor.fetchone()
        if row is None:
            raise not_found()
        names = [d[0] for d in cursor.description]
        return dict(zip(names, row))

    def _existing(self, obj: SObjectDef, record_id: str) -> tuple[str, dict[str, Any]]:
        rid = self._id_for(obj, record_id)
        row = self._load_row(self._conn(), obj, rid)
        if row.get("IsDeleted"):
            raise DevOrgError("ENTITY_IS_DELETED", "entity is deleted", status=404)
        return rid, row

    def _id_for(self, obj: SObjectDef, record_id: str) -> str:
        if not isinstance(record_id, str) or not is_valid_id(record_id):
            raise not_found()
        rid = normalize_id(record_id)
        if rid[:3] != obj.key_prefix:
            raise not_found()
        return rid

    def retrieve(self, sobject: str, record_id: str, fields: list[str] | None = None,
                 *, api_version: str | None = None) -> dict[str, Any]:
        """One record in REST shape; NOT_FOUND (404) if missing, ENTITY_IS_DELETED if deleted."""
        obj = self.catalog.get(sobject)
        chosen: list[FieldDef]
        if fields:
            chosen = []
            for name in fields:
                f = obj.field(name.strip())
                if f is None:
                    raise DevOrgError("INVALID_FIELD", no_such_column(name.strip(), obj.name))
                chosen.append(f)
        else:
            chosen = list(obj.fields)
        _, row = self._existing(obj, record_id)
        return self.rest_record(obj, row, chosen, api_version=api_version)

    def rest_record(self, obj: SObjectDef, row: dict[str, Any], fields: list[FieldDef],
                    *, api_version: str | None = None) -> dict[str, Any]:
        """Shape a stored row as the REST API returns a record."""
        version = api_version or self.api_version
        record: dict[str, Any] = {
            "attributes": {
                "type": obj.name,
                "url": f"/services/data/v{version}/sobjects/{obj.name}/{row['Id']}",
            }
        }
        for f in fields:
            if f.type == "address":
                record[f.name] = address_value(f, row)
            elif f.type == "base64":
                record[f.name] = (
                    None if row.get(f.name) is None
                    else f"/services/data/v{version}/sobjects/{obj.name}/{row['Id']}/{f.name}"
                )
            else:
                record[f.name] = rest_value(f, row.get(f.name))
        return record

    def blob(self, sobject: str, record_id: str, field: str) -> bytes:
        """The bytes of a base64 field (``ContentVersion.VersionData``)."""
        obj = self.catalog.get(sobject)
        f = obj.field(field)
        if f is None or f.type != "base64":
            raise not_found()
        _, row = self._existing(obj, record_id)
        data = row.get(f.name)
        if data is None:
            raise not_found()
        return bytes(data)

    def update(self, sobject: str, record_id: str, values: dict[str, Any], *,
               user_id: str | None = None) -> None:
        """Update one record (PATCH semantics: only the given fields change)."""
        obj = self.catalog.get(sobject)
        with self.transaction():
            rid, old = self._existing(obj, record_id)
            values = {k: v for k, v in values.items() if k.lower() != "id"}
            row = self.validate_values(obj.name, values, for_insert=False)
            conn = self._conn()
            self._check_references(conn, obj, row)
            now = utc_now_text(self.now())
            row.update(LastModifiedDate=now, SystemModstamp=now,
                       LastModifiedById=user_id or self.admin_user_id)
            self._derive(conn, obj, row, old)
            sets = ", ".join(f"{_quote(k)} = ?" for k in row)
            row["Id"] = rid
            try:
                conn.execute(
                    f'UPDATE {_quote(obj.table)} SET {sets} WHERE "Id" = ?',
                    [*[v for k, v in row.items() if k != "Id"], rid],
                )
            except sqlite3.IntegrityError as exc:
                raise self._duplicate(conn, obj, row, exc) from None

    def upsert(self, sobject: str, external_field: str, external_value: str,
               values: dict[str, Any], *, user_id: str | None = None) -> tuple[str, bool]:
        """Insert or update by external id; returns (id, created).

        Several matches raise MultipleMatchesError (DUPLICATE_EXTERNAL_ID, HTTP 300).
        """
        obj = self.catalog.get(sobject)
        f = obj.field(external_field)
        if f is None:
            raise DevOrgError(
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: "
                f"{external_field}",
                status=404,
            )
        if f.name != "Id" and not (f.external_id or f.id_lookup):
            raise DevOrgError(
                "INVALID_FIELD",
                f"Field {f.name} is not an External ID or indexed field for {obj.name}",
                fields=[f.name],
            )
        # The key is given by the URL; a copy of it in the body never changes it.
        body = {k: v for k, v in values.items() if k.lower() != f.name.lower()}
        with self.transaction():
            if f.name == "Id":
                if external_value in (None, ""):
                    return self._insert(obj.name, body, user_id=user_id), True
                self.update(obj.name, external_value, body, user_id=user_id)
                return normalize_id(external_value), False
            key = coerce_value(f, external_value)
            rows = self._conn().execute(
                f'SELECT "Id" FROM {_quote(obj.table)} WHERE {_quote(f.name)} = ? '
                'AND "IsDeleted" = 0 LIMIT 5',
                (key,),
            ).fetchall()
            if len(rows) > 1:
                raise MultipleMatchesError(obj.name, f.name, [r[0] for r in rows],
                                           label=f.label)
            if rows:
                self.update(obj.name, rows[0][0], body, user_id=user_id)
                return str(rows[0][0]), False
            body[f.name] = external_value
            return self._insert(obj.name, body, user_id=user_id), True

    def delete(self, sobject: str, record_id: str, *, user_id: str | None = None) -> None:
        """Soft delete: the record goes to the recycle bin (IsDeleted = true).

        Children in cascade-delete relationships (an account's contacts, opportunities and
        the tasks on them) go with it, as in Salesforce.
        """
        obj = self.catalog.get(sobject)
        if not obj.deletable:
            raise DevOrgError(
                "INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support delete"
            )
        with self.transaction():
            rid, _ = self._existing(obj, record_id)
            now = utc_now_text(self.now())
            self._set_deleted(obj, [rid], True, now, user_id or self.admin_user_id, None)

    def _set_deleted(self, obj: SObjectDef, ids: list[str], deleted: bool, now: str,
                     user_id: str, stamp: str | None) -> None:
        """Move records (and their cascade children) into or out of the recycle bin.

        On the way back, only children deleted together with the parent (same
        SystemModstamp, ``stamp``) are restored.
        """
        if not ids:
            return
        conn = self._conn()
        marks = ", ".join("?" * len(ids))
        table = _quote(obj.table)
        conn.execute(
            f'UPDATE {table} SET "IsDeleted" = ?, "SystemModstamp" = ?'
            + (', "LastModifiedDate" = ?, "LastModifiedById" = ?' if deleted else "")
            + f' WHERE "Id" IN ({marks})',
            [1 if deleted else 0, now, *([now, user_id] if deleted else []), *ids],
        )
        for rel in obj.child_relationships:
            if not rel.cascade_delete:
                continue
            child = self.catalog.get(rel.child_sobject)
            where = f'{_quote(rel.field)} IN ({marks}) AND "IsDeleted" = ?'
            params: list[Any] = [*ids, 0 if deleted else 1]
            if not deleted:
                where += ' AND "SystemModstamp" = ?'
                params.append(stamp)
            found = [r[0] for r in conn.execute(
                f'SELECT "Id" FROM {_quote(child.table)} WHERE {where}', params)]
            self._set_deleted(child, found, deleted, now, user_id, stamp)

    def undelete(self, sobject: str, record_id: str) -> None:
        """Bring a soft-deleted record (and what was deleted with it) back."""
        obj = self.catalog.get(sobject)
        with self.transaction():
            rid = self._id_for(obj, record_id)
            row = self._load_row(self._conn(), obj, rid)
            if not row.get("IsDeleted"):
                raise DevOrgError("UNDELETE_FAILED", "Entity is not in the recycle bin")
            now = utc_now_text(self.now())
            self._set_deleted(obj, [rid], False, now, self.admin_user_id,
                              row.get("SystemModstamp"))

    def hard_delete(self, sobject: str, record_id: str) -> None:
        """Delete for good (also from the recycle bin), with cascade children."""
        obj = self.catalog.get(sobject)
        with self.transaction():
            rid = self._id_for(obj, record_id)
            if self._purge(obj, [rid]) == 0:
                raise not_found()

    def _purge(self, obj: SObjectDef, ids: list[str]) -> int:
        if not ids:
            return 0
        conn = self._conn()
        marks = ", ".join("?" * len(ids))
        for rel in obj.child_relationships:
            if rel.cascade_delete:
                child = self.catalog.get(rel.child_sobject)
                found = [r[0] for r in conn.execute(
                    f'SELECT "Id" FROM {_quote(child.table)} WHERE {_quote(rel.field)} '
                    f"IN ({marks})", ids)]
                self._purge(child, found)
        # Ids are never reused: remember how far the sequence went before rows vanish.
        top = max((sequence_of(i) or 0) for i in ids)
        conn.execute(
            "INSERT INTO _sequence (prefix, next) VALUES (?, ?) ON CONFLICT(prefix) DO UPDATE "
            "SET next = max(next, excluded.next)", (obj.key_prefix, top + 1))
        cur = conn.execute(f'DELETE FROM {_quote(obj.table)} WHERE "Id" IN ({marks})', ids)
        return int(cur.rowcount)

    def exists(self, sobject: str, record_id: str, *, include_deleted: bool = False) -> bool:
        """True if the record is there (and not deleted, unless asked)."""
        obj = self.catalog.get(sobject)
        if not is_valid_id(record_id):
            return False
        row = self._conn().execute(
            f'SELECT "IsDeleted" FROM {_quote(obj.table)} WHERE "Id" = ?',
            (normalize_id(record_id),),
        ).fetchone()
        return row is not None and (include_deleted or not row[0])

    def count(self, sobject: str, *, include_deleted: bool = False) -> int:
        """Number of records of one type."""
        obj = self.catalog.get(sobject)
        where = "" if include_deleted else ' WHERE "IsDeleted" = 0'
        return int(self._conn().execute(
            f"SELECT count(*) FROM {_quote(obj.table)}{where}").fetchone()[0])

    # --- queries ----------------------------------------------------------------------

    def query(self, soql: str, *, include_deleted: bool = False,
              api_version: str | None = None, user_id: str | None = None) -> QueryResult:
        """Run SOQL (as `user_id`, for `USING SCOPE mine`); records in REST shape."""
        from .soql.execute import run_query

        return run_query(self, soql, include_deleted=include_deleted,
                         api_version=api_version or self.api_version, user_id=user_id)

    def query_rows(self, soql: str, *, include_deleted: bool = False,
                   user_id: str | None = None
                   ) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
        """Run a plain SELECT for Bulk: dotted column names and a stream of value tuples."""
        from .soql.execute import stream_rows

        return stream_rows(self, soql, include_deleted=include_deleted, user_id=user_id)

    def search(self, sosl: str, *, api_version: str | None = None) -> dict[str, Any]:
        """Run SOSL; ``{"searchRecords": [...]}`` as REST returns it."""
        from .sosl import run_search

        return run_search(self, sosl, api_version=api_version or self.api_version)


_STAGE_PROBABILITY = {
    "Prospecting": 10.0, "Qualification": 10.0, "Needs Analysis": 20.0,
    "Value Proposition": 50.0, "Id. Decision Makers": 60.0, "Perception Analysis": 70.0,
    "Proposal/Price Quote": 75.0, "Negotiation/Review": 90.0, "Closed Won": 100.0,
    "Closed Lost": 0.0,
}
_STAGE_FORECAST = {"Closed Won": "Closed", "Closed Lost": "Omitted",
                   "Negotiation/Review": "Commit", "Proposal/Price Quote": "Best Case"}
_FILE_TYPES = {"pdf": "PDF", "txt": "TEXT", "csv": "CSV", "png": "PNG", "jpg": "JPG",
               "jpeg": "JPG", "docx": "WORD_X", "xlsx": "EXCEL_X", "json": "JSON"}


# --- value coercion -----------------------------------------------------------------------


def _type_error(f: FieldDef, value: Any) -> DevOrgError:
    return DevOrgError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
        f"{f.label}: value not of required type: {value}",
        fields=[f.name],
    )


def parse_datetime(text: str) -> dt.datetime | None:
    """A Salesforce datetime string → aware UTC datetime (None if malformed)."""
    m = _DATETIME.match(text.strip())
    if not m:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    try:
        micro = int((frac or "0")[:6].ljust(6, "0"))
        value = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro)
    except ValueError:
        return None
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        value = value - sign * offset
    return value.replace(tzinfo=dt.UTC)


def coerce_value(f: FieldDef, value: Any) -> Any:
    """One value for field ``f`` → its stored form, or a DevOrgError."""
    if value is None:
        return None
    t = f.type
    if type(value) is str and t in _FAST_TEXT and value and len(value) <= f.length and not (
            f.restricted_picklist and value not in f.picklist):
        return value  # the common case, decided without the checks below
    if t in ID_TYPES:
        if not isinstance(value, str):
            raise _type_error(f, value)
        if value == "":
            return None
        if not is_valid_id(value):
            raise DevOrgError(
                "MALFORMED_ID", f"{f.label}: id value of incorrect type: {value}",
                fields=[f.name],
            )
        return normalize_id(value)
    if t == "boolean":
        if isinstance(value, bool):
            return 1 if value else 0
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0",
                                                                 "yes", "no"):
            return 1 if value.strip().lower() in ("true", "1", "yes") else 0
        if isinstance(value, int) and value in (0, 1):
            return value
        raise _type_error(f, value)
    if t == "int":
        if isinstance(value, bool):
            raise _type_error(f, value)
        if isinstance(value, int):
            number: float = value
        else:
            try:
                number = float(str(value).strip())
            except ValueError:
                raise _type_error(f, value) from None
        if not math.isfinite(number) or number != int(number):
            raise _type_error(f, value)
        if abs(number) > 2147483647:
            raise DevOrgError("NUMBER_OUTSIDE_VALID_RANGE",
                              f"{f.label}: value outside of valid range on numeric field: "
                              f"{value}", fields=[f.name])
        return int(number)
    if t in ("double", "currency", "percent"):
        if isinstance(value, bool):
            raise _type_error(f, value)
        try:
            number = float(value) if isinstance(value, (int, float)) else float(
                str(value).strip())
        except ValueError:
            raise _type_error(f, value) from None
        if not math.isfinite(number):
            raise _type_error(f, value)
        if f.precision:
            limit = 10 ** (f.precision - f.scale)
            if abs(number) < limit and round(number, f.scale) != number:
                # Salesforce keeps `scale` decimals, rounding half up.
                step = decimal.Decimal(1).scaleb(-f.scale)
                number = float(decimal.Decimal(repr(number)).quantize(step,
                                                                      decimal.ROUND_HALF_UP))
            if abs(number) >= limit:
                raise DevOrgError("NUMBER_OUTSIDE_VALID_RANGE",
                                  f"{f.label}: value outside of valid range on numeric field: "
                                  f"{value}", fields=[f.name])
        return number
    if t == "date":
        text = str(value).strip()
        if _DATE.match(text):
            try:
                return dt.date.fromisoformat(text).isoformat()
            except ValueError:
                raise _type_error(f, value) from None
        parsed = parse_datetime(text)
        if parsed is None:
            raise _type_error(f, value)
        return parsed.date().isoformat()
    if t == "datetime":
        text = str(value).strip()
        parsed = parse_datetime(text)
        if parsed is None:
            if _DATE.match(text):
                try:
                    parsed = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
                except ValueError:
                    raise _type_error(f, value) from None
            else:
                raise _type_error(f, value)
        return utc_now_text(parsed)
    if t == "time":
        m = _TIME.match(str(value).strip())
        if not m:
            raise _type_error(f, value)
        h, mi, s, frac, _ = m.groups()
        if int(h) > 23 or int(mi) > 59 or int(s or 0) > 59:
            raise _type_error(f, value)
        return f"{h}:{mi}:{int(s or 0):02d}.{(frac or '0')[:3].ljust(3, '0')}Z"
    if t == "base64":
        if isinstance(value, bytes):
            return value
        try:
            return base64.b64decode(str(value), validate=False)
        except (binascii.Error, ValueError):
            raise _type_error(f, value) from None
    # text-like types
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, (int, float)):
        text = str(value)
    elif isinstance(value, str):
        text = value
    elif t == "multipicklist" and isinstance(value, list):
        text = ";".join(str(v) for v in value)
    else:
        raise _type_error(f, value)
    if text == "":
        # Salesforce stores an empty string in a text field as null.
        return None
    if t == "multipicklist":
        parts = [p.strip() for p in text.split(";") if p.strip()]
        if f.restricted_picklist:
            for p in parts:
                if p not in f.picklist:
                    raise _bad_picklist(f, p)
        text = ";".join(dict.fromkeys(parts))
        if not text:
            return None
    elif t == "picklist" and f.restricted_picklist and text not in f.picklist:
        if text == "":
            return None
        raise _bad_picklist(f, text)
    if t == "email" and text and not _EMAIL.match(text):
        raise DevOrgError("INVALID_EMAIL_ADDRESS", f"{f.label}: invalid email address: {text}",
                          fields=[f.name])
    if f.length and len(text) > f.length:
        shown = text if len(text) <= 60 else text[:60] + "..."
        raise DevOrgError(
            "STRING_TOO_LONG",
            f"{f.label}: data value too large: {shown} (max length={f.length})",
            fields=[f.name],
        )
    return text


_FAST_TEXT = frozenset({"string", "textarea", "phone", "url", "combobox", "picklist"})


def plain_text_rule(f: FieldDef) -> tuple[int, frozenset[str] | None] | None:
    """When `coerce_value` keeps a string for `f` as it is: (max length, allowed values or
    None for any); None for fields whose values always get the full checks.

    A non-empty string within the length (and among the allowed values) is stored unchanged.
    """
    if f.type not in _FAST_TEXT:
        return None
    return f.length, frozenset(f.picklist) if f.restricted_picklist else None


def _bad_picklist(f: FieldDef, value: str) -> DevOrgError:
    return DevOrgError(
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        f"{f.label}: bad value for restricted picklist field: {value}",
        fields=[f.name],
    )


def rest_value(f: FieldDef, stored: Any) -> Any:
    """A stored value → the JSON value REST returns for it."""
    if stored is None:
        return None
    t = f.type
    if t == "boolean":
        return bool(stored)
    if t == "datetime":
        return rest_datetime(stored)
    if t in ("double", "currency", "percent"):
        return float(stored)
    if t == "int":
        return int(stored)
    return stored


def address_value(f: FieldDef, row: dict[str, Any]) -> dict[str, Any] | None:
    """A compound address as REST returns it (None when every part is null)."""
    keys = ["street", "city", "state", "postalCode", "country", "latitude", "longitude",
            "geocodeAccuracy"]
    parts = {k: row.get(p) for k, p in zip(keys, f.compound_parts)}
    if all(v is None for v in parts.values()):
        return None
    return dict(sorted(parts.items()))
