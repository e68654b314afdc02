"""Bulk inserts bound, and Bulk query results read, by the engine through this process's own
SQLite library.

Python's `sqlite3` module binds values one call at a time; for a million rows that costs
more than SQLite's own work. The engine's `SqliteWriter` binds them from the upload's bytes
without the GIL, on a connection of its own, through the SQLite library the `sqlite3`
module itself runs on (found already loaded, never loaded a second time: two copies of SQLite
in one process would not see each other's locks). Its `SqliteLines` likewise steps a Bulk
query and writes the result lines itself. Where that library cannot be reached, the devorg
binds and reads through Python as before.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sfbulk_mcp._engine import SqliteLines, SqliteWriter

log = logging.getLogger(__name__)

# The writer's own connection: like the store's, and it leaves folding the write-ahead log to
# the job manager.
_PRAGMAS = "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -65536; PRAGMA wal_autocheckpoint = 0"


@functools.cache
def sqlite_library() -> str | None:
    """The file through which the engine reaches the SQLite library of the `sqlite3` module,
    or None when it cannot (no engine, no `dlopen`, SQLite's functions not exported).

    That is the `_sqlite3` extension itself: symbols are looked up in it and the libraries it
    was loaded with, so a SQLite it links dynamically is found as surely as one built in.
    """
    try:
        import _sqlite3

        from sfbulk_mcp._engine import sqlite_library_version
    except ImportError:
        return None
    major, minor, patch = sqlite3.sqlite_version_info
    library = _sqlite3.__file__
    if library is None:
        return None
    found = sqlite_library_version(library)
    if found != major * 1_000_000 + minor * 1000 + patch:
        log.debug("bulk inserts bind through Python: no usable SQLite in %s", library)
        return None
    return library


def open_writer(database: Path, insert: str, parameters: int) -> SqliteWriter | None:
    """A writer for `database` preparing `insert`, or None to bind through Python."""
    library = sqlite_library()
    if library is None:
        return None
    from sfbulk_mcp._engine import SqliteWriter

    try:
        return SqliteWriter(library, database, pragmas=_PRAGMAS, insert=insert,
                            parameters=parameters)
    except (ValueError, RuntimeError) as exc:
        log.warning("bulk inserts bind through Python: %s", exc)
        return None


# A reader's own connection: like the store's.
_READ_PRAGMAS = "PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY"


def open_lines(database: Path, *, snapshot: str, sql: str, params: list[object], columns: int,
               booleans: list[int], delimiter: str, newline: str) -> SqliteLines | None:
    """The engine's reader of a Bulk query's result lines, or None to read through Python
    (no usable SQLite library, or SQL the engine's connection cannot prepare, such as a
    call of a function the store registers in Python)."""
    library = sqlite_library()
    if library is None:
        return None
    from sfbulk_mcp._engine import SqliteLines

    try:
        return SqliteLines(library, database, pragmas=_READ_PRAGMAS, snapshot=snapshot, sql=sql,
                           params=params, columns=columns, booleans=booleans,
                           delimiter=delimiter, newline=newline)
    except (ValueError, TypeError, RuntimeError) as exc:
        log.debug("query lines read through Python: %s", exc)
        return None
