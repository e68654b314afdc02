//! Python binding of the direct SQLite writer (the devorg's bulk inserts).
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyString};

use super::ingest_table::PyIngestTable;
use crate::ingest_table::record_id;
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

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PySqliteWriter>()?;
    m.add_function(wrap_pyfunction!(sqlite_library_version, m)?)?;
    Ok(())
}
