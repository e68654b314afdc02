//! A Bulk query's result lines read straight from SQLite (the devorg's query jobs).
//!
//! The devorg writes a Bulk query's results as quoted CSV lines. Going through Python's
//! `sqlite3` module costs a Python object per row; here the engine steps the query itself,
//! without the GIL, on its own connection to the process's SQLite library, and writes each
//! line as `devorg/bulk/csvout.py`'s `RowFormatter` does: every value quoted, `"` doubled,
//! null as `""`, numbers as Python's `format_value` writes them, booleans as `true`/`false`.
//! A row holding a blob (which no write path stores) is handed back as raw values, for the
//! Python formatter to write.
use std::ffi::c_void;
use std::path::Path;
use std::sync::Arc;

use crate::ingest_table::quote_into;
use crate::sqlite_link::{Connection, Param, SqlError, Sqlite, SQLITE_DONE, SQLITE_ROW};

const SQLITE_INTEGER: i32 = 1;
const SQLITE_FLOAT: i32 = 2;
const SQLITE_TEXT: i32 = 3;
const SQLITE_BLOB: i32 = 4;

/// How a column is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// As `format_value` writes any stored value.
    Value,
    /// A boolean field stored as 0/1: `true` when the value equals 1, else `false`.
    Boolean,
}

/// One stored value of a row handed back whole.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Null,
    Int(i64),
    Float(f64),
    Text(Vec<u8>),
    Blob(Vec<u8>),
}

/// A read transaction on its own connection and one SELECT, stepped a block at a time.
pub struct Lines {
    conn: Connection,
    stmt: *mut c_void,
    cells: Vec<Cell>,
    delimiter: Vec<u8>,
    newline: Vec<u8>,
    done: bool,
}

// See `Connection`: only ever used behind a lock.
unsafe impl Send for Lines {}

/// What one call of `Lines::block` ended on.
#[derive(Debug, PartialEq)]
pub enum Stop {
    /// The block holds as many rows as asked for.
    Full,
    /// The next row (already read) is for the Python formatter: its values.
    Odd(Vec<Raw>),
    /// The query has no more rows.
    Done,
}

impl Lines {
    /// Opens `database`, runs `pragmas`, begins a read transaction and fixes its snapshot
    /// with `snapshot_sql`, then prepares `sql` with `params`; `cells` says how each column
    /// is written.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        sqlite: Arc<Sqlite>,
        database: &Path,
        pragmas: &str,
        snapshot_sql: &str,
        sql: &str,
        params: &[Param],
        cells: Vec<Cell>,
        delimiter: &[u8],
        newline: &[u8],
    ) -> Result<Lines, SqlError> {
        let conn = Connection::open(sqlite, database, pragmas)?;
        conn.exec("BEGIN")?;
        conn.exec(snapshot_sql)?;
        let stmt = conn.prepare(sql)?;
        let lines = Lines {
            conn,
            stmt,
            cells,
            delimiter: delimiter.to_vec(),
            newline: newline.to_vec(),
            done: false,
        };
        for (i, value) in params.iter().enumerate() {
            lines.conn.bind_param(stmt, i + 1, value)?;
        }
        // SAFETY: a prepared statement.
        let columns = unsafe { (lines.conn.sqlite.f.column_count)(stmt) } as usize;
        if columns != lines.cells.len() {
            return Err(SqlError {
                code: 1,
                message: format!("the query has {columns} columns, not {}", lines.cells.len()),
            });
        }
        Ok(lines)
    }

    /// Appends up to `rows` lines to `out`, and the end offset of each (counting from
    /// `base`, the offset of `out`'s first byte) to `ends`.
    pub fn block(
        &mut self,
        rows: usize,
        base: i64,
        out: &mut Vec<u8>,
        ends: &mut Vec<i64>,
    ) -> Result<Stop, SqlError> {
        let start = out.len() as i64;
        for _ in 0..rows {
            if self.done {
                return Ok(Stop::Done);
            }
            // SAFETY: a prepared statement of this connection.
            match unsafe { (self.conn.sqlite.f.step)(self.stmt) } {
                SQLITE_ROW => {}
                SQLITE_DONE => {
                    self.done = true;
                    return Ok(Stop::Done);
                }
                code => return Err(self.conn.error(code)),
            }
            let mark = out.len();
            if !self.write_row(out) {
                out.truncate(mark);
                return Ok(Stop::Odd(self.raw_row()));
            }
            ends.push(base + (out.len() as i64 - start));
        }
        Ok(Stop::Full)
    }

    /// Writes the current row's line; false (leaving partial bytes) when it holds a blob.
    fn write_row(&self, out: &mut Vec<u8>) -> bool {
        let f = &self.conn.sqlite.f;
        for (i, cell) in self.cells.iter().enumerate() {
            if i > 0 {
                out.extend_from_slice(&self.delimiter);
            }
            let column = i as i32;
            out.push(b'"');
            // SAFETY: the statement is on a row and `column` is one of its columns; the
            // text pointer is read before the next call on the statement.
            unsafe {
                match ((f.column_type)(self.stmt, column), cell) {
                    (SQLITE_BLOB, Cell::Value) => return false,
                    (SQLITE_INTEGER, Cell::Boolean) => {
                        let v = (f.column_int64)(self.stmt, column);
                        out.extend_from_slice(if v == 1 { b"true" } else { b"false" });
                    }
                    (SQLITE_FLOAT, Cell::Boolean) => {
                        let v = (f.column_double)(self.stmt, column);
                        out.extend_from_slice(if v == 1.0 { b"true" } else { b"false" });
                    }
                    (SQLITE_TEXT | SQLITE_BLOB, Cell::Boolean) => out.extend_from_slice(b"false"),
                    (SQLITE_INTEGER, Cell::Value) => {
                        let v = (f.column_int64)(self.stmt, column);
                        out.extend_from_slice(itoa(v, &mut [0; 20]));
                    }
                    (SQLITE_FLOAT, Cell::Value) => {
                        python_float((f.column_double)(self.stmt, column), out)
                    }
                    (SQLITE_TEXT, Cell::Value) => {
                        let text = (f.column_text)(self.stmt, column);
                        let len = (f.column_bytes)(self.stmt, column) as usize;
                        if !text.is_null() {
                            quote_into(std::slice::from_raw_parts(text, len), out);
                        }
                    }
                    _ => {} // NULL
                }
            }
            out.push(b'"');
        }
        out.extend_from_slice(&self.newline);
        true
    }

    fn raw_row(&self) -> Vec<Raw> {
        let f = &self.conn.sqlite.f;
        (0..self.cells.len() as i32)
            .map(|column| {
                // SAFETY: as in `write_row`; bytes are copied before the next call.
                unsafe {
                    match (f.column_type)(self.stmt, column) {
                        SQLITE_INTEGER => Raw::Int((f.column_int64)(self.stmt, column)),
                        SQLITE_FLOAT => Raw::Float((f.column_double)(self.stmt, column)),
                        SQLITE_TEXT => {
                            let text = (f.column_text)(self.stmt, column);
                            let len = (f.column_bytes)(self.stmt, column) as usize;
                            Raw::Text(bytes_at(text, len))
                        }
                        SQLITE_BLOB => {
                            let blob = (f.column_blob)(self.stmt, column);
                            let len = (f.column_bytes)(self.stmt, column) as usize;
                            Raw::Blob(bytes_at(blob, len))
                        }
                        _ => Raw::Null,
                    }
                }
            })
            .collect()
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        // Before the connection closes (its read transaction ends with it).
        self.conn.finalize(self.stmt);
    }
}

/// # Safety
/// `data` is null or points at `len` readable bytes.
unsafe fn bytes_at(data: *const u8, len: usize) -> Vec<u8> {
    if data.is_null() || len == 0 {
        Vec::new()
    } else {
        std::slice::from_raw_parts(data, len).to_vec()
    }
}

fn itoa(value: i64, buffer: &mut [u8; 20]) -> &[u8] {
    let mut n = value.unsigned_abs();
    let mut at = buffer.len();
    loop {
        at -= 1;
        buffer[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if value < 0 {
        // i64::MIN has 19 digits: the sign still fits.
        at -= 1;
        buffer[at] = b'-';
    }
    &buffer[at..]
}

/// A float as the devorg's `format_value` writes it: a whole number as its integer digits
/// and `.0`; any other as Python's `repr` (the shortest digits that read back the same,
/// scientific below 1e-4 and from 1e16 on), `nan`, `inf` and `-inf` included.
pub fn python_float(value: f64, out: &mut Vec<u8>) {
    use std::io::Write;

    if value.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if value.is_infinite() {
        out.extend_from_slice(if value > 0.0 { b"inf" } else { b"-inf" });
        return;
    }
    if value.fract() == 0.0 {
        if value == 0.0 {
            out.extend_from_slice(b"0.0"); // -0.0 included: int(-0.0) is 0
        } else {
            let _ = write!(out, "{value:.0}.0");
        }
        return;
    }
    // As many digits as the shortest string that reads back the same, rounded from the exact
    // value (half to even, as Python breaks a tie between two such strings), as d.ddde±x.
    let shortest = format!("{:e}", value.abs());
    let count = shortest
        .split('e')
        .next()
        .map_or(1, |m| m.replace('.', "").len());
    let scientific = format!("{:.*e}", count - 1, value.abs());
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(|b| *b != b'.').collect();
    if value < 0.0 {
        out.push(b'-');
    }
    let point = exponent + 1; // digits × 10^(point - len): the decimal point's position
    if !(-4 < point && point <= 16) {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exponent < 0 { '-' } else { '+' },
            exponent.abs()
        );
    } else if point <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-point) as usize));
        out.extend_from_slice(&digits);
    } else {
        let point = point as usize;
        if point >= digits.len() {
            // Not reached for a value with a fraction, kept for completeness.
            out.extend_from_slice(&digits);
            out.extend(std::iter::repeat_n(b'0', point - digits.len()));
            out.extend_from_slice(b".0");
        } else {
            out.extend_from_slice(&digits[..point]);
            out.push(b'.');
            out.extend_from_slice(&digits[point..]);
        }
    }
}
