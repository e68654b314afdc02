//! Python binding of the direct SQLite writer (the devorg's bulk inserts).
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyString, PyTuple};

use super::ingest_table::PyIngestTable;
use crate::ingest_table::record_id;
use crate::sqlite_lines::{Cell, Lines, Raw, Stop};
use crate::sqlite_link::{Param, Sqlite, Writer};

fn param(value: &Bound<'_, PyAny>) -> PyResult<Param> {
    if value.is_none() {
        Ok(Param::Null)
    } else if value.is_instance_of::<PyBool>() {
        Ok(Param::Int(i64::from(value.extract::<bool>()?)))
    } else if value.is_instance_of::<PyInt>() {
        Ok(Param::Int(value.extract()?))
    } else if value.is_instance_of::<PyFloat>() {
        Ok(Param::Float(value.extract()?))
    } else if value.is_instance_of::<PyString>() {
        Ok(Param::Text(value.extract()?))
    } else {
        Err(PyTypeError::new_err(format!(
            "cannot bind a {} value",
            value.get_type().name()?
        )))
    }
}

fn params(values: &[Bound<'_, PyAny>]) -> PyResult<Vec<Param>> {
    values.iter().map(param).collect()
}

fn loaded(library: &Path) -> PyResult<Arc<Sqlite>> {
    Sqlite::loaded(library)
        .map(Arc::new)
        .map_err(PyValueError::new_err)
}

/// The version number (e.g. 3040001) of the SQLite library in file `library`, if this
/// process has it loaded and it can be called directly; None otherwise.
#[pyfunction]
fn sqlite_library_version(library: PathBuf) -> Option<i32> {
    Sqlite::loaded(&library).ok().map(|s| s.version())
}

/// One connection to a devorg database through the process's own SQLite library, with one
/// prepared INSERT; see `insert`.
#[pyclass(name = "SqliteWriter", module = "sfbulk_mcp._engine")]
pub struct PySqliteWriter {
    writer: Mutex<Option<Writer>>,
}

#[pymethods]
impl PySqliteWriter {
    /// Opens `database` through `library` (which must already be loaded), runs `pragmas`
    /// and prepares `insert`, which takes `parameters` values: `(rid, Id, *slot values,
    /// *shared values)`.
    #[new]
    #[pyo3(signature = (library, database, *, pragmas, insert, parameters))]
    fn new(
        library: PathBuf,
        database: PathBuf,
        pragmas: &str,
        insert: &str,
        parameters: usize,
    ) -> PyResult<Self> {
        let sqlite = loaded(&library)?;
        let writer = Writer::open(sqlite, &database, pragmas, insert, parameters)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(PySqliteWriter {
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Inserts the rows of `[start, stop)` that passed `table.prepare` in one transaction
    /// without the GIL: the k-th gets sequence `first + k` and the Id `id_head` makes with
    /// it, its slot values from the columns `slots` names (an empty cell binding the slot's
    /// entry of `defaults`), then the `shared` values; each is then recorded in `table` as a
    /// success. Returns the rows inserted, or None when a constraint (a duplicate unique
    /// value) rolled the transaction back, and the numbers of the rows that did not pass.
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &self,
        py: Python<'_>,
        table: &Bound<'_, PyIngestTable>,
        start: usize,
        stop: usize,
        first: u64,
        id_head: &str,
        slots: Vec<usize>,
        defaults: Vec<Bound<'_, PyAny>>,
        shared: Vec<Bound<'_, PyAny>>,
    ) -> PyResult<(Option<usize>, Vec<usize>)> {
        if slots.len() != defaults.len() {
            return Err(PyValueError::new_err("one default per slot"));
        }
        let defaults = params(&defaults)?;
        let shared = params(&shared)?;
        let mut table = table.borrow_mut();
        let inner = table.inner_mut();
        if let Some(&bad) = slots.iter().find(|&&s| s >= inner.columns().len()) {
            return Err(PyValueError::new_err(format!("slot {bad} names no column")));
        }
        let stop = stop.min(inner.len());
        let others: Vec<usize> = (start..stop).filter(|&r| !inner.is_fast(r)).collect();
        let mut guard = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer = guard
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the writer is closed"))?;
        let result = py.detach(move || {
            writer.insert_rows(
                inner,
                start,
                stop,
                first,
                |sequence| record_id(id_head, sequence),
                &slots,
                &defaults,
                &shared,
            )
        });
        match result {
            Ok(inserted) => Ok((Some(inserted), others)),
            Err(e) if e.is_constraint() => Ok((None, others)),
            Err(e) => Err(PyRuntimeError::new_err(e.to_string())),
        }
    }

    /// Closes the connection (also done when the writer is collected).
    fn close(&self) {
        self.writer.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// A Bulk query's result lines, read on a connection of its own through the process's own
/// SQLite library; see `block`.
#[pyclass(name = "SqliteLines", module = "sfbulk_mcp._engine")]
pub struct PySqliteLines {
    lines: Mutex<Option<Lines>>,
}

/// One block of lines: its bytes, each line's end offset (native `int64`s), the values of a
/// row for Python to write (or None), and whether the query has no more rows.
type Block<'py> = (
    Bound<'py, PyBytes>,
    Bound<'py, PyBytes>,
    Option<Bound<'py, PyTuple>>,
    bool,
);

#[pymethods]
impl PySqliteLines {
    /// Opens `database` through `library` (which must already be loaded), runs `pragmas`,
    /// begins a read transaction whose snapshot `snapshot` (a read) fixes, and prepares `sql`
    /// with `params`: `columns` columns, those at `booleans` written as booleans.
    #[new]
    #[pyo3(signature = (library, database, *, pragmas, snapshot, sql, params, columns, booleans,
                        delimiter, newline))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        library: PathBuf,
        database: PathBuf,
        pragmas: &str,
        snapshot: &str,
        sql: &str,
        params: Vec<Bound<'_, PyAny>>,
        columns: usize,
        booleans: Vec<usize>,
        delimiter: &str,
        newline: &str,
    ) -> PyResult<Self> {
        let sqlite = loaded(&library)?;
        let params = self::params(&params)?;
        let mut cells = vec![Cell::Value; columns];
        for i in booleans {
            *cells
                .get_mut(i)
                .ok_or_else(|| PyValueError::new_err(format!("column {i} is not selected")))? =
                Cell::Boolean;
        }
        let lines = py
            .detach(|| {
                Lines::open(
                    sqlite,
                    &database,
                    pragmas,
                    snapshot,
                    sql,
                    &params,
                    cells,
                    delimiter.as_bytes(),
                    newline.as_bytes(),
                )
            })
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        Ok(PySqliteLines {
            lines: Mutex::new(Some(lines)),
        })
    }

    /// Up to `rows` lines without the GIL; `base` is the offset of the block's first byte.
    /// A row holding a blob ends the block early: its values come back for Python to write.
    fn block<'py>(&self, py: Python<'py>, rows: usize, base: i64) -> PyResult<Block<'py>> {
        let mut guard = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        let lines = guard
            .as_mut()
            .ok_or_else(|| PyValueError::new_err("the query is closed"))?;
        let (data, ends, stop) = py
            .detach(|| {
                let mut data = Vec::with_capacity(rows * 128);
                let mut ends = Vec::with_capacity(rows);
                let stop = lines.block(rows, base, &mut data, &mut ends)?;
                Ok((data, ends, stop))
            })
            .map_err(|e: crate::sqlite_link::SqlError| PyRuntimeError::new_err(e.to_string()))?;
        let end_bytes: Vec<u8> = ends.iter().flat_map(|e| e.to_ne_bytes()).collect();
        let (odd, done) = match stop {
            Stop::Full => (None, false),
            Stop::Done => (None, true),
            Stop::Odd(values) => {
                let items = values
                    .into_iter()
                    .map(|value| raw_object(py, value))
                    .collect::<PyResult<Vec<_>>>()?;
                (Some(PyTuple::new(py, items)?), false)
            }
        };
        Ok((
            PyBytes::new(py, &data),
            PyBytes::new(py, &end_bytes),
            odd,
            done,
        ))
    }

    /// Ends the read transaction and closes the connection (also done when collected).
    fn close(&self) {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

fn raw_object(py: Python<'_>, value: Raw) -> PyResult<Bound<'_, PyAny>> {
    Ok(match value {
        Raw::Null => py.None().into_bound(py),
        Raw::Int(v) => v.into_pyobject(py)?.into_any(),
        Raw::Float(v) => v.into_pyobject(py)?.into_any(),
        Raw::Text(t) => PyString::new(py, &String::from_utf8_lossy(&t)).into_any(),
        Raw::Blob(b) => PyBytes::new(py, &b).into_any(),
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySqliteWriter>()?;
    m.add_class::<PySqliteLines>()?;
    m.add_function(wrap_pyfunction!(sqlite_library_version, m)?)?;
    Ok(())
}
