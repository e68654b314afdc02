//! The SQLite library the host process already runs on, called directly (the devorg's bulk
//! inserts).
//!
//! The devorg keeps its records in SQLite through Python's `sqlite3` module, where binding a
//! million rows costs more than SQLite's own work. The engine binds them itself instead,
//! through the very same SQLite library: it is looked up among the libraries already loaded
//! (`RTLD_NOLOAD`), never loaded anew, because two copies of SQLite in one process do not see
//! each other's file locks. When no such library can be found (SQLite built into Python with
//! its symbols hidden, a platform without `dlopen`), the caller binds through Python.
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::Path;

use crate::ingest_table::{IngestTable, Value};

const SQLITE_OK: c_int = 0;
pub(crate) const SQLITE_ROW: c_int = 100;
pub(crate) const SQLITE_DONE: c_int = 101;
const SQLITE_CONSTRAINT: c_int = 19;
const SQLITE_OPEN_READWRITE: c_int = 0x2;
const SQLITE_OPEN_NOMUTEX: c_int = 0x8000;

/// A SQLite failure: its result code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    pub code: c_int,
    pub message: String,
}

impl SqlError {
    /// A UNIQUE (or other constraint) violation: the rows need the general path.
    pub fn is_constraint(&self) -> bool {
        self.code & 0xff == SQLITE_CONSTRAINT
    }
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (SQLite code {})", self.message, self.code)
    }
}

type Destructor = *const c_void;
/// `SQLITE_TRANSIENT`: SQLite copies the text before the call returns.
const TRANSIENT: Destructor = usize::MAX as Destructor;
/// `SQLITE_STATIC`: the text outlives the statement's use of it.
const STATIC: Destructor = std::ptr::null();

type OpenV2 = unsafe extern "C" fn(*const c_char, *mut *mut c_void, c_int, *const c_char) -> c_int;
type OfHandle = unsafe extern "C" fn(*mut c_void) -> c_int;
type PrepareV2 = unsafe extern "C" fn(
    *mut c_void,
    *const c_char,
    c_int,
    *mut *mut c_void,
    *mut *const c_char,
) -> c_int;
type BindText = unsafe extern "C" fn(*mut c_void, c_int, *const c_char, c_int, Destructor) -> c_int;
type BindInt64 = unsafe extern "C" fn(*mut c_void, c_int, i64) -> c_int;
type BindDouble = unsafe extern "C" fn(*mut c_void, c_int, f64) -> c_int;
type BindNull = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type ErrMsg = unsafe extern "C" fn(*mut c_void) -> *const c_char;
type BusyTimeout = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
type Global = unsafe extern "C" fn() -> c_int;
type ColumnInt64 = unsafe extern "C" fn(*mut c_void, c_int) -> i64;
type ColumnDouble = unsafe extern "C" fn(*mut c_void, c_int) -> f64;
type ColumnBytes = unsafe extern "C" fn(*mut c_void, c_int) -> *const u8;
type ColumnOf = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;

pub(crate) struct Functions {
    open_v2: OpenV2,
    close_v2: OfHandle,
    prepare_v2: PrepareV2,
    bind_text: BindText,
    bind_int64: BindInt64,
    bind_double: BindDouble,
    bind_null: BindNull,
    bind_parameter_count: OfHandle,
    pub(crate) step: OfHandle,
    reset: OfHandle,
    finalize: OfHandle,
    errmsg: ErrMsg,
    extended_errcode: OfHandle,
    busy_timeout: BusyTimeout,
    libversion_number: Global,
    threadsafe: Global,
    pub(crate) column_count: OfHandle,
    pub(crate) column_type: ColumnOf,
    pub(crate) column_int64: ColumnInt64,
    pub(crate) column_double: ColumnDouble,
    pub(crate) column_text: ColumnBytes,
    pub(crate) column_blob: ColumnBytes,
    pub(crate) column_bytes: ColumnOf,
}

/// The SQLite library of the process, found already loaded.
pub struct Sqlite {
    pub(crate) f: Functions,
}

// Plain function pointers into a library that stays loaded (its handle is never closed).
unsafe impl Send for Sqlite {}
unsafe impl Sync for Sqlite {}

impl Sqlite {
    /// The SQLite library in file `library`, if this process already loaded it and it
    /// exports SQLite's C interface; otherwise why not.
    #[cfg(unix)]
    pub fn loaded(library: &Path) -> Result<Sqlite, String> {
        use std::os::unix::ffi::OsStrExt;

        let name = CString::new(library.as_os_str().as_bytes())
            .map_err(|_| "a NUL in the library path".to_string())?;
        // SAFETY: RTLD_NOLOAD only looks the library up; nothing new is loaded or run.
        let handle = unsafe { libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_NOLOAD) };
        if handle.is_null() {
            return Err(format!("{} is not loaded", library.display()));
        }
        macro_rules! symbol {
            ($name:literal, $type:ty) => {{
                // SAFETY: a symbol of SQLite's documented C interface, looked up by name and
                // given its documented signature.
                let found = unsafe { libc::dlsym(handle, concat!($name, "\0").as_ptr().cast()) };
                if found.is_null() {
                    return Err(format!("{} does not export {}", library.display(), $name));
                }
                unsafe { std::mem::transmute::<*mut c_void, $type>(found) }
            }};
        }
        let f = Functions {
            open_v2: symbol!("sqlite3_open_v2", OpenV2),
            close_v2: symbol!("sqlite3_close_v2", OfHandle),
            prepare_v2: symbol!("sqlite3_prepare_v2", PrepareV2),
            bind_text: symbol!("sqlite3_bind_text", BindText),
            bind_int64: symbol!("sqlite3_bind_int64", BindInt64),
            bind_double: symbol!("sqlite3_bind_double", BindDouble),
            bind_null: symbol!("sqlite3_bind_null", BindNull),
            bind_parameter_count: symbol!("sqlite3_bind_parameter_count", OfHandle),
            step: symbol!("sqlite3_step", OfHandle),
            reset: symbol!("sqlite3_reset", OfHandle),
            finalize: symbol!("sqlite3_finalize", OfHandle),
            errmsg: symbol!("sqlite3_errmsg", ErrMsg),
            extended_errcode: symbol!("sqlite3_extended_errcode", OfHandle),
            busy_timeout: symbol!("sqlite3_busy_timeout", BusyTimeout),
            libversion_number: symbol!("sqlite3_libversion_number", Global),
            threadsafe: symbol!("sqlite3_threadsafe", Global),
            column_count: symbol!("sqlite3_column_count", OfHandle),
            column_type: symbol!("sqlite3_column_type", ColumnOf),
            column_int64: symbol!("sqlite3_column_int64", ColumnInt64),
            column_double: symbol!("sqlite3_column_double", ColumnDouble),
            column_text: symbol!("sqlite3_column_text", ColumnBytes),
            column_blob: symbol!("sqlite3_column_blob", ColumnBytes),
            column_bytes: symbol!("sqlite3_column_bytes", ColumnOf),
        };
        // SAFETY: argument-less queries of the library's build.
        if unsafe { (f.threadsafe)() } == 0 {
            return Err("SQLite was built without thread safety".to_string());
        }
        Ok(Sqlite { f })
    }

    #[cfg(not(unix))]
    pub fn loaded(_library: &Path) -> Result<Sqlite, String> {
        Err("looking up a loaded library needs dlopen".to_string())
    }

    /// `sqlite3_libversion_number()`, e.g. 3040001.
    pub fn version(&self) -> i32 {
        // SAFETY: no arguments, no state.
        unsafe { (self.f.libversion_number)() }
    }
}

/// One connection of the process's SQLite library, used by one thread at a time.
pub(crate) struct Connection {
    pub(crate) sqlite: std::sync::Arc<Sqlite>,
    db: *mut c_void,
}

// The library is thread-safe (checked in `Sqlite::loaded`) and each connection is only ever
// used behind a lock, by one thread at a time: so it is opened without a mutex of its own
// (NOMUTEX), which every `sqlite3_column_*` call would otherwise lock and unlock.
unsafe impl Send for Connection {}

/// A value bound the same way in every row, or a slot's default.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

impl Connection {
    /// Opens `database` (an existing WAL database) and runs `pragmas`.
    pub(crate) fn open(
        sqlite: std::sync::Arc<Sqlite>,
        database: &Path,
        pragmas: &str,
    ) -> Result<Connection, SqlError> {
        let name = path_text(database)?;
        let mut db = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated path, out-pointer to a local.
        let code = unsafe {
            (sqlite.f.open_v2)(
                name.as_ptr(),
                &mut db,
                SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                std::ptr::null(),
            )
        };
        let connection = Connection { sqlite, db };
        if code != SQLITE_OK {
            return Err(connection.error(code));
        }
        // SAFETY: an open connection.
        unsafe { (connection.sqlite.f.busy_timeout)(connection.db, 60_000) };
        connection.exec(pragmas)?;
        Ok(connection)
    }

    /// A prepared statement of `sql` (the caller finalizes it).
    pub(crate) fn prepare(&self, sql: &str) -> Result<*mut c_void, SqlError> {
        let text = CString::new(sql).map_err(|_| SqlError {
            code: 1,
            message: "a NUL in the SQL".into(),
        })?;
        let mut stmt = std::ptr::null_mut();
        // SAFETY: open connection, NUL-terminated SQL, out-pointer to a local.
        let code = unsafe {
            (self.sqlite.f.prepare_v2)(self.db, text.as_ptr(), -1, &mut stmt, std::ptr::null_mut())
        };
        self.check(code)?;
        Ok(stmt)
    }

    /// Releases a statement of `prepare`'s (null is skipped).
    pub(crate) fn finalize(&self, stmt: *mut c_void) {
        if !stmt.is_null() {
            // SAFETY: a statement of this connection, finalized once.
            unsafe { (self.sqlite.f.finalize)(stmt) };
        }
    }

    pub(crate) fn error(&self, code: c_int) -> SqlError {
        if self.db.is_null() {
            return SqlError {
                code,
                message: "cannot open the database".into(),
            };
        }
        // SAFETY: an open connection; the message is copied at once.
        let message = unsafe { CStr::from_ptr((self.sqlite.f.errmsg)(self.db)) }
            .to_string_lossy()
            .into_owned();
        // SAFETY: an open connection.
        let code = unsafe { (self.sqlite.f.extended_errcode)(self.db) }.max(code);
        SqlError { code, message }
    }

    fn check(&self, code: c_int) -> Result<(), SqlError> {
        if code == SQLITE_OK {
            Ok(())
        } else {
            Err(self.error(code))
        }
    }

    /// Runs statements whose rows are of no interest (PRAGMAs, BEGIN, COMMIT, a read that
    /// fixes a snapshot).
    pub(crate) fn exec(&self, sql: &str) -> Result<(), SqlError> {
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            let stmt = self.prepare(statement)?;
            let result = loop {
                // SAFETY: a prepared statement, finalized below.
                match unsafe { (self.sqlite.f.step)(stmt) } {
                    SQLITE_ROW => continue,
                    SQLITE_DONE => break Ok(()),
                    code => break Err(self.error(code)),
                }
            };
            self.finalize(stmt);
            result?;
        }
        Ok(())
    }

    pub(crate) fn bind_param(
        &self,
        stmt: *mut c_void,
        index: usize,
        value: &Param,
    ) -> Result<(), SqlError> {
        match value {
            Param::Null => self.bind_value(stmt, index, &Value::Null),
            Param::Int(v) => self.bind_value(stmt, index, &Value::Int(*v)),
            Param::Float(v) => self.bind_value(stmt, index, &Value::Float(*v)),
            Param::Text(t) => self.bind_text(stmt, index, t, TRANSIENT),
        }
    }

    fn bind_text(
        &self,
        stmt: *mut c_void,
        index: usize,
        text: &str,
        lifetime: Destructor,
    ) -> Result<(), SqlError> {
        let len = c_int::try_from(text.len()).map_err(|_| SqlError {
            code: 18,
            message: "a value too long to bind".into(),
        })?;
        // SAFETY: `text` lives as long as `lifetime` promises (STATIC: until the next bind
        // or reset of this parameter, which the caller ensures; TRANSIENT: copied now).
        let code = unsafe {
            (self.sqlite.f.bind_text)(stmt, index as c_int, text.as_ptr().cast(), len, lifetime)
        };
        self.check(code)
    }

    fn bind_value(
        &self,
        stmt: *mut c_void,
        index: usize,
        value: &Value<'_>,
    ) -> Result<(), SqlError> {
        let i = index as c_int;
        // SAFETY: a prepared statement and a parameter index it has.
        let code = unsafe {
            match value {
                Value::Absent | Value::Null => (self.sqlite.f.bind_null)(stmt, i),
                Value::Int(v) => (self.sqlite.f.bind_int64)(stmt, i, *v),
                Value::Float(v) => (self.sqlite.f.bind_double)(stmt, i, *v),
                Value::Text(t) => return self.bind_text(stmt, index, t, TRANSIENT),
            }
        };
        self.check(code)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        if !self.db.is_null() {
            // SAFETY: closed once, after its statements were finalized by their owners.
            unsafe { (self.sqlite.f.close_v2)(self.db) };
        }
    }
}

/// Rows one multi-row INSERT stores: the work SQLite does once per statement step
/// (opening and closing cursors, halting) is shared by them.
const GROUP_ROWS: usize = 32;

/// One connection and one prepared INSERT, used by one thread at a time.
pub struct Writer {
    conn: Connection,
    insert: *mut c_void,
    insert_sql: String,
    /// The INSERT widened to `GROUP_ROWS` rows, for rows of this many values of their own
    /// (made on first use; None until then, or when the INSERT could not be widened).
    group: Option<(usize, *mut c_void)>,
}

// See `Connection`: the writer is only ever used behind a lock.
unsafe impl Send for Writer {}

impl Writer {
    /// Opens `database` (an existing WAL database), runs `pragmas` and prepares `insert`,
    /// whose parameters are `(rid, Id, *slot values, *shared values)`.
    pub fn open(
        sqlite: std::sync::Arc<Sqlite>,
        database: &Path,
        pragmas: &str,
        insert: &str,
        parameters: usize,
    ) -> Result<Writer, SqlError> {
        let conn = Connection::open(sqlite, database, pragmas)?;
        let stmt = conn.prepare(insert)?;
        let writer = Writer {
            conn,
            insert: stmt,
            insert_sql: insert.to_string(),
            group: None,
        };
        // SAFETY: a prepared statement.
        let wanted = unsafe { (writer.conn.sqlite.f.bind_parameter_count)(stmt) } as usize;
        if wanted != parameters {
            return Err(SqlError {
                code: 1,
                message: format!("the INSERT takes {wanted} values, not {parameters}"),
            });
        }
        Ok(writer)
    }

    fn exec(&self, sql: &str) -> Result<(), SqlError> {
        self.conn.exec(sql)
    }

    /// The INSERT for `GROUP_ROWS` rows of `own` values each (then the shared values, bound
    /// once for all rows), or null when the INSERT's text has no single `VALUES (…)` to widen.
    fn group_statement(&mut self, own: usize, shared: usize) -> *mut c_void {
        if let Some((known, stmt)) = self.group {
            if known == own {
                return stmt;
            }
            self.conn.finalize(stmt);
            self.group = None;
        }
        let Some(at) = self.insert_sql.rfind(" VALUES (") else {
            return std::ptr::null_mut();
        };
        let shared_marks: Vec<String> = (0..shared)
            .map(|i| format!("?{}", GROUP_ROWS * own + i + 1))
            .collect();
        let rows: Vec<String> = (0..GROUP_ROWS)
            .map(|r| {
                let marks: Vec<String> = (0..own)
                    .map(|j| format!("?{}", r * own + j + 1))
                    .chain(shared_marks.iter().cloned())
                    .collect();
                format!("({})", marks.join(", "))
            })
            .collect();
        let sql = format!("{} VALUES {}", &self.insert_sql[..at], rows.join(", "));
        let stmt = self.conn.prepare(&sql).unwrap_or(std::ptr::null_mut());
        if !stmt.is_null() {
            self.group = Some((own, stmt));
        }
        stmt
    }

    fn bind_param(&self, index: usize, value: &Param) -> Result<(), SqlError> {
        self.conn.bind_param(self.insert, index, value)
    }

    /// Inserts the fast rows of `[start, stop)` of `table` in one transaction: the k-th
    /// gets `rid` `first + k` and the Id `ids(first + k)`, its slot values from the columns
    /// `slots` names (an empty cell binding that slot's default), then `shared`. After the
    /// commit each row is recorded as a success; on any failure the transaction is rolled
    /// back, nothing is recorded, and the error returned. Returns the rows inserted.
    #[allow(clippy::too_many_arguments)]
    pub fn insert_rows(
        &mut self,
        table: &mut IngestTable,
        start: usize,
        stop: usize,
        first: u64,
        ids: impl Fn(u64) -> Option<String>,
        slots: &[usize],
        defaults: &[Param],
        shared: &[Param],
    ) -> Result<usize, SqlError> {
        let own = 2 + slots.len();
        let group = self.group_statement(own, shared.len());
        for (i, value) in shared.iter().enumerate() {
            self.bind_param(own + i + 1, value)?;
            if !group.is_null() {
                self.conn
                    .bind_param(group, GROUP_ROWS * own + i + 1, value)?;
            }
        }
        self.exec("BEGIN IMMEDIATE")?;
        let mut done = Vec::new();
        let result = self.bind_and_step(
            table, start, stop, first, &ids, slots, defaults, group, &mut done,
        );
        let result = result.and_then(|()| self.exec("COMMIT"));
        if let Err(e) = result {
            // SAFETY: prepared statements; clears a failed step's state.
            unsafe { (self.conn.sqlite.f.reset)(self.insert) };
            if !group.is_null() {
                // SAFETY: as above.
                unsafe { (self.conn.sqlite.f.reset)(group) };
            }
            // Best effort: the transaction may already be gone with the failed COMMIT.
            let _ = self.exec("ROLLBACK");
            return Err(e);
        }
        let inserted = done.len();
        for (row, id) in done {
            table.set_success(row, id, true);
        }
        Ok(inserted)
    }

    /// Binds and inserts the fast rows of `[start, stop)`: `GROUP_ROWS` at a time through
    /// `group` (when not null), the rest one at a time.
    #[allow(clippy::too_many_arguments)]
    fn bind_and_step(
        &self,
        table: &IngestTable,
        start: usize,
        stop: usize,
        first: u64,
        ids: &impl Fn(u64) -> Option<String>,
        slots: &[usize],
        defaults: &[Param],
        group: *mut c_void,
        done: &mut Vec<(usize, String)>,
    ) -> Result<(), SqlError> {
        let own = 2 + slots.len();
        let rows: Vec<usize> = (start..stop.min(table.len()))
            .filter(|&row| table.is_fast(row))
            .collect();
        let grouped = if group.is_null() {
            0
        } else {
            rows.len() - rows.len() % GROUP_ROWS
        };
        for (sequence, (k, &row)) in (first..).zip(rows.iter().enumerate()) {
            let (stmt, base) = if k < grouped {
                (group, (k % GROUP_ROWS) * own)
            } else {
                (self.insert, 0)
            };
            let id = ids(sequence).ok_or_else(|| SqlError {
                code: 1,
                message: format!("no Id for sequence {sequence}"),
            })?;
            self.conn
                .bind_value(stmt, base + 1, &Value::Int(sequence as i64))?;
            self.conn.bind_text(stmt, base + 2, &id, TRANSIENT)?;
            for (j, (&column, default)) in slots.iter().zip(defaults).enumerate() {
                let index = base + 3 + j;
                match table.value(row, column) {
                    Value::Absent => self.conn.bind_param(stmt, index, default)?,
                    Value::Text(std::borrow::Cow::Borrowed(text)) => {
                        // Borrowed from the table, which outlives this step.
                        self.conn.bind_text(stmt, index, text, STATIC)?
                    }
                    other => self.conn.bind_value(stmt, index, &other)?,
                }
            }
            done.push((row, id));
            if k >= grouped || k % GROUP_ROWS == GROUP_ROWS - 1 {
                // SAFETY: a prepared statement with every parameter bound.
                let code = unsafe { (self.conn.sqlite.f.step)(stmt) };
                // SAFETY: ready for the next rows (bindings stay).
                unsafe { (self.conn.sqlite.f.reset)(stmt) };
                if code != SQLITE_DONE {
                    return Err(self.conn.error(code));
                }
            }
        }
        Ok(())
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Before the connection closes (fields drop after this).
        self.conn.finalize(self.insert);
        if let Some((_, group)) = self.group.take() {
            self.conn.finalize(group);
        }
    }
}

fn path_text(path: &Path) -> Result<CString, SqlError> {
    let text = path.to_str().ok_or_else(|| SqlError {
        code: 14,
        message: "a database path that is not UTF-8".into(),
    })?;
    CString::new(text).map_err(|_| SqlError {
        code: 14,
        message: "a NUL in the database path".into(),
    })
}
