//! Python binding of the ingest table (the devorg's insert jobs).
use std::collections::HashSet;
use std::path::PathBuf;

use pyo3::exceptions::{PyIndexError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString, PyTuple};

use super::options;
use crate::ingest_table::{record_id, ColumnSpec, IngestTable, Rule, Value};

/// A column rule as Python gives it: (kind, required, max_chars, allowed, precision, scale),
/// kind one of "text", "int", "double", "boolean", "defer".
type SpecTuple = (String, bool, usize, Option<Vec<String>>, Option<u32>, u32);

/// A received upload held as spans of its bytes; see `IngestTable.read`.
#[pyclass(name = "IngestTable", module = "sfbulk_mcp._engine")]
pub struct PyIngestTable {
    inner: IngestTable,
}

impl PyIngestTable {
    pub(super) fn inner_mut(&mut self) -> &mut IngestTable {
        &mut self.inner
    }
}

fn check_row(table: &IngestTable, row: usize) -> PyResult<usize> {
    if row < table.len() {
        Ok(row)
    } else {
        Err(PyIndexError::new_err(format!("row {row} out of range")))
    }
}

#[pymethods]
impl PyIngestTable {
    /// Reads an upload file without the GIL. ValueError (with the reason) when it is not
    /// plainly formed CSV: the caller then reads it its general way.
    #[staticmethod]
    #[pyo3(signature = (path, *, delimiter="COMMA", line_ending="LF"))]
    fn read(py: Python<'_>, path: PathBuf, delimiter: &str, line_ending: &str) -> PyResult<Self> {
        let delimiter = options::delimiter(delimiter)?;
        let crlf = options::crlf(line_ending)?;
        let read = py.detach(|| IngestTable::read(&path, delimiter, crlf));
        match read {
            Err(e) => Err(PyOSError::new_err(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
            Ok(Err(refused)) => Err(PyValueError::new_err(refused.0)),
            Ok(Ok(inner)) => Ok(PyIngestTable { inner }),
        }
    }

    /// The header's cells.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.inner.columns().to_vec()
    }

    /// The header line as sent (no line ending).
    #[getter]
    fn header_line(&self) -> &str {
        self.inner.header_line()
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// The cells of data row `row`.
    fn row(&self, row: usize) -> PyResult<Vec<String>> {
        Ok(self.inner.row(check_row(&self.inner, row)?))
    }

    /// Checks every row against one rule per column, without the GIL.
    fn prepare(&mut self, py: Python<'_>, specs: Vec<SpecTuple>) -> PyResult<()> {
        if specs.len() != self.inner.columns().len() {
            return Err(PyValueError::new_err(format!(
                "{} rules for {} columns",
                specs.len(),
                self.inner.columns().len()
            )));
        }
        let specs = specs
            .into_iter()
            .map(|(kind, required, max_chars, allowed, precision, scale)| {
                let rule = match kind.as_str() {
                    "text" => Rule::Text {
                        max_chars,
                        allowed: allowed.map(|v| v.into_iter().collect::<HashSet<_>>()),
                    },
                    "int" => Rule::Int,
                    "double" => Rule::Double { precision, scale },
                    "boolean" => Rule::Boolean,
                    "defer" => Rule::Defer,
                    other => return Err(PyValueError::new_err(format!("unknown rule {other:?}"))),
                };
                Ok(ColumnSpec { rule, required })
            })
            .collect::<PyResult<Vec<_>>>()?;
        let inner = &mut self.inner;
        py.detach(|| inner.prepare(specs));
        Ok(())
    }

    /// Rows in `[start, stop)` that passed `prepare`'s checks.
    fn fast_count(&self, start: usize, stop: usize) -> usize {
        self.inner.fast_count(start, stop)
    }

    /// Whether row `row` passed `prepare`'s checks.
    fn is_fast(&self, row: usize) -> bool {
        self.inner.is_fast(row)
    }

    /// Parameters for inserting the fast rows of `[start, stop)`, and the other rows'
    /// numbers. The k-th fast row gets `(first + k, Id, *values)`, its Id made from
    /// `id_head` and the sequence number `first + k` (see `record_id`), its values taken
    /// from the columns `slots` names in order, an empty cell giving that slot's entry of
    /// `defaults`; each fast row is recorded as a success with its Id.
    #[allow(clippy::too_many_arguments)]
    fn insert_params<'py>(
        &mut self,
        py: Python<'py>,
        start: usize,
        stop: usize,
        first: u64,
        id_head: &str,
        slots: Vec<usize>,
        defaults: Vec<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyList>, Vec<usize>)> {
        let stop = stop.min(self.inner.len());
        if slots.len() != defaults.len() {
            return Err(PyValueError::new_err("one default per slot"));
        }
        if let Some(&bad) = slots.iter().find(|&&s| s >= self.inner.columns().len()) {
            return Err(PyValueError::new_err(format!("slot {bad} names no column")));
        }
        let params = PyList::empty(py);
        let mut deferred = Vec::new();
        let none = py.None().into_bound(py);
        let mut sequence = first;
        for row in start..stop {
            if !self.inner.is_fast(row) {
                deferred.push(row);
                continue;
            }
            let id_text = record_id(id_head, sequence).ok_or_else(|| {
                PyValueError::new_err(format!("no Id for {id_head:?} and {sequence}"))
            })?;
            let mut items: Vec<Bound<'py, PyAny>> = Vec::with_capacity(slots.len() + 2);
            items.push(sequence.into_pyobject(py)?.into_any());
            items.push(PyString::new(py, &id_text).into_any());
            for (&column, default) in slots.iter().zip(&defaults) {
                items.push(match self.inner.value(row, column) {
                    Value::Absent => default.clone(),
                    Value::Null => none.clone(),
                    Value::Text(text) => PyString::new(py, &text).into_any(),
                    Value::Int(v) => v.into_pyobject(py)?.into_any(),
                    Value::Float(v) => v.into_pyobject(py)?.into_any(),
                });
            }
            params.append(PyTuple::new(py, items)?)?;
            self.inner.set_success(row, id_text, true);
            sequence += 1;
        }
        Ok((params, deferred))
    }

    /// Records row `row`'s success.
    fn set_success(&mut self, row: usize, record_id: String, created: bool) -> PyResult<()> {
        let row = check_row(&self.inner, row)?;
        self.inner.set_success(row, record_id, created);
        Ok(())
    }

    /// Records row `row`'s failure with its `sf__Error` text.
    fn set_failure(&mut self, row: usize, record_id: String, error: String) -> PyResult<()> {
        let row = check_row(&self.inner, row)?;
        self.inner.set_failure(row, record_id, error);
        Ok(())
    }

    /// Writes the successful, failed and unprocessed result sets under `folder` without the
    /// GIL; returns their row counts.
    fn write_results(
        &self,
        py: Python<'_>,
        folder: PathBuf,
        seed: u64,
    ) -> PyResult<(usize, usize, usize)> {
        let inner = &self.inner;
        let written = py
            .detach(|| inner.write_results(&folder, seed))
            .map_err(|e| PyOSError::new_err(format!("cannot write results: {e}")))?;
        Ok((written.successes, written.failures, written.unprocessed))
    }
}

/// The 18-character Id `id_head` (key prefix, pod, `0`) makes with `sequence`.
#[pyfunction(name = "record_id")]
fn py_record_id(id_head: &str, sequence: u64) -> PyResult<String> {
    record_id(id_head, sequence)
        .ok_or_else(|| PyValueError::new_err(format!("no Id for {id_head:?} and {sequence}")))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyIngestTable>()?;
    m.add_function(wrap_pyfunction!(py_record_id, m)?)?;
    Ok(())
}
