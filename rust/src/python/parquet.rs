//! Python binding of the Parquet sink.
use std::path::PathBuf;
use std::sync::Mutex;

use arrow_array::RecordBatch;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::arrow::{import_reader, import_schema, PyRecordBatch, PySchema};
use super::errors::to_py;
use crate::parquet_sink::{compression, ParquetSink};
use crate::parquet_source::ParquetSource;
use parquet::basic::Compression;

/// Writes Arrow batches to one Parquet file, incrementally and in bounded memory.
#[pyclass(name = "ParquetWriter", module = "sfbulk_mcp._engine")]
pub struct PyParquetWriter {
    path: PathBuf,
    codec: Compression,
    sink: Mutex<Option<ParquetSink>>,
    closed: bool,
    rows: u64,
}

impl PyParquetWriter {
    fn sink(&mut self) -> &mut Option<ParquetSink> {
        self.sink.get_mut().unwrap_or_else(|p| p.into_inner())
    }
}

#[pymethods]
impl PyParquetWriter {
    #[new]
    #[pyo3(signature = (path, *, schema=None, compression="zstd"))]
    fn new(path: PathBuf, schema: Option<&Bound<'_, PyAny>>, compression: &str) -> PyResult<Self> {
        let codec = self::compression(compression).map_err(to_py)?;
        let sink = match schema {
            Some(s) => Some(ParquetSink::create(&path, import_schema(s)?, codec).map_err(to_py)?),
            None => None,
        };
        Ok(PyParquetWriter {
            path,
            codec,
            sink: Mutex::new(sink),
            closed: false,
            rows: 0,
        })
    }

    /// Appends a record batch, a frame, or any Arrow stream; returns rows written so far.
    fn write(&mut self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<u64> {
        if self.closed {
            return Err(PyValueError::new_err("the Parquet writer is closed"));
        }
        let mut reader = import_reader(data)?;
        let path = self.path.clone();
        let codec = self.codec;
        loop {
            // Batches are pulled with the GIL held (the producer may be Python code), and
            // encoded without it.
            let Some(batch) = reader.next() else { break };
            let batch: RecordBatch =
                batch.map_err(|e| PyValueError::new_err(format!("Arrow error: {e}")))?;
            let sink = self.sink();
            py.detach(|| {
                if sink.is_none() {
                    *sink = Some(ParquetSink::create(&path, batch.schema(), codec)?);
                }
                sink.as_mut().expect("created above").write(&batch)
            })
            .map_err(to_py)?;
        }
        Ok(self.sink().as_ref().map_or(0, |s| s.rows()))
    }

    /// Finishes the file and returns the rows written. With no rows and no schema, the
    /// schema given here (or an empty one) is used.
    #[pyo3(signature = (schema=None))]
    fn close(&mut self, py: Python<'_>, schema: Option<&Bound<'_, PyAny>>) -> PyResult<u64> {
        if self.closed {
            return Ok(self.rows);
        }
        if self.sink().is_none() {
            let schema = match schema {
                Some(s) => import_schema(s)?,
                None => std::sync::Arc::new(arrow_schema::Schema::empty()),
            };
            let sink = ParquetSink::create(&self.path, schema, self.codec).map_err(to_py)?;
            *self.sink() = Some(sink);
        }
        let sink = self.sink();
        let rows = py
            .detach(|| sink.as_mut().expect("created above").close())
            .map_err(to_py)?;
        self.closed = true;
        self.rows = rows;
        Ok(rows)
    }

    /// Rows written so far.
    #[getter]
    fn rows(&mut self) -> u64 {
        if self.closed {
            return self.rows;
        }
        self.sink().as_ref().map_or(0, |s| s.rows())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (exc_type=None, exc=None, tb=None))]
    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<&Bound<'_, PyAny>>,
        exc: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        let _ = (exc, tb);
        if exc_type.is_none() {
            self.close(py, None)?;
        } else if !self.closed {
            // Leave no half-written file looking valid after an error.
            self.closed = true;
            *self.sink() = None;
            let _ = std::fs::remove_file(&self.path);
        }
        Ok(false)
    }
}

/// Reads a Parquet file as Arrow record batches of at most `batch_rows` rows, one at a time.
#[pyclass(name = "ParquetReader", module = "sfbulk_mcp._engine")]
pub struct PyParquetReader {
    source: Mutex<Option<ParquetSource>>,
    schema: PySchema,
    rows: u64,
}

#[pymethods]
impl PyParquetReader {
    #[new]
    #[pyo3(signature = (path, *, batch_rows=65_536))]
    fn new(py: Python<'_>, path: PathBuf, batch_rows: usize) -> PyResult<Self> {
        let source = py
            .detach(|| ParquetSource::open(&path, batch_rows))
            .map_err(to_py)?;
        Ok(PyParquetReader {
            schema: PySchema {
                schema: source.schema().clone(),
            },
            rows: source.rows(),
            source: Mutex::new(Some(source)),
        })
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<PyRecordBatch>> {
        let slot = self.source.get_mut().unwrap_or_else(|p| p.into_inner());
        let Some(source) = slot.as_mut() else {
            return Ok(None);
        };
        match py.detach(|| source.next_batch()) {
            Some(Ok(batch)) => Ok(Some(PyRecordBatch { batch })),
            Some(Err(e)) => {
                *slot = None;
                Err(to_py(e))
            }
            None => {
                *slot = None;
                Ok(None)
            }
        }
    }

    /// The file's Arrow schema.
    #[getter]
    fn schema(&self) -> PySchema {
        self.schema.clone()
    }

    /// Rows in the file (from its footer).
    #[getter]
    fn rows(&self) -> u64 {
        self.rows
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyParquetWriter>()?;
    m.add_class::<PyParquetReader>()?;
    Ok(())
}
