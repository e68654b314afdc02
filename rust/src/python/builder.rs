//! Python binding of the upload batch builder.
use std::collections::VecDeque;
use std::sync::Mutex;

use arrow_array::{RecordBatch, RecordBatchReader};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::arrow::import_reader;
use super::errors::to_py;
use super::options;
use crate::builder::{BuilderOptions, Chunk, ChunkBuilder};

/// One Bulk ingest upload: CSV `data` holding input rows `start..stop`.
#[pyclass(name = "UploadChunk", module = "sfbulk_mcp._engine", frozen)]
pub struct PyChunk {
    #[pyo3(get)]
    data: Py<PyBytes>,
    /// Index of the first input row in this chunk (0-based).
    #[pyo3(get)]
    start: u64,
    /// One past the last input row in this chunk.
    #[pyo3(get)]
    stop: u64,
}

#[pymethods]
impl PyChunk {
    /// Data rows in the chunk.
    #[getter]
    fn rows(&self) -> u64 {
        self.stop - self.start
    }

    /// Size of the chunk in bytes.
    #[getter]
    fn nbytes(&self, py: Python<'_>) -> usize {
        self.data.bind(py).as_bytes().len()
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "UploadChunk(start={}, stop={}, nbytes={})",
            self.start,
            self.stop,
            self.data.bind(py).as_bytes().len()
        )
    }
}

fn to_py_chunk(py: Python<'_>, c: Chunk) -> PyChunk {
    PyChunk {
        data: PyBytes::new(py, &c.data).unbind(),
        start: c.start,
        stop: c.stop,
    }
}

/// Turns Arrow data into Bulk ingest CSV chunks. See `sfbulk_mcp.engine.build_batches`.
#[pyclass(name = "BatchBuilder", module = "sfbulk_mcp._engine")]
pub struct PyBatchBuilder {
    inner: ChunkBuilder,
    source: Mutex<Option<Box<dyn RecordBatchReader + Send>>>,
    /// The batch being formatted and the offset of its next row: big batches are formatted
    /// a slice at a time so finished chunks are handed out before the rest is formatted.
    current: Option<(RecordBatch, usize)>,
    ready: VecDeque<Chunk>,
}

/// Rows formatted per step.
const SLICE_ROWS: usize = 8192;

#[pymethods]
impl PyBatchBuilder {
    #[new]
    #[pyo3(signature = (*, max_bytes=100_000_000, max_rows=None, delimiter="COMMA",
                        line_ending="LF", null_as_na=false))]
    fn new(
        max_bytes: usize,
        max_rows: Option<usize>,
        delimiter: &str,
        line_ending: &str,
        null_as_na: bool,
    ) -> PyResult<Self> {
        let opts = BuilderOptions {
            delimiter: options::delimiter(delimiter)?,
            crlf: options::crlf(line_ending)?,
            max_bytes,
            max_rows,
            null_as_na,
        };
        Ok(PyBatchBuilder {
            inner: ChunkBuilder::new(opts).map_err(to_py)?,
            source: Mutex::new(None),
            current: None,
            ready: VecDeque::new(),
        })
    }

    /// Queues Arrow data (a frame, table, batch or stream); rows are read lazily by
    /// `next_chunk`.
    fn feed(&mut self, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let source = self.source.get_mut().unwrap_or_else(|p| p.into_inner());
        if source.is_some() || self.current.is_some() {
            return Err(PyValueError::new_err(
                "call next_chunk() until it returns None before feeding more data",
            ));
        }
        *source = Some(import_reader(data)?);
        Ok(())
    }

    /// The next full chunk, or None once the queued data is used up (the partial chunk then
    /// waits for more data or `finish`).
    fn next_chunk(&mut self, py: Python<'_>) -> PyResult<Option<PyChunk>> {
        loop {
            if let Some(c) = self.ready.pop_front() {
                return Ok(Some(to_py_chunk(py, c)));
            }
            if let Some((batch, offset)) = self.current.take() {
                let len = SLICE_ROWS.min(batch.num_rows() - offset);
                let slice = batch.slice(offset, len);
                if offset + len < batch.num_rows() {
                    self.current = Some((batch, offset + len));
                }
                let inner = &mut self.inner;
                let mut out = Vec::new();
                let result = py.detach(|| inner.push(&slice, &mut out));
                self.ready.extend(out);
                if let Err(e) = result {
                    self.current = None;
                    return Err(to_py(e));
                }
                continue;
            }
            let source = self.source.get_mut().unwrap_or_else(|p| p.into_inner());
            let Some(reader) = source.as_mut() else {
                return Ok(None);
            };
            match reader.next() {
                None => {
                    *source = None;
                    return Ok(None);
                }
                Some(batch) => {
                    let batch =
                        batch.map_err(|e| PyValueError::new_err(format!("Arrow error: {e}")))?;
                    if batch.num_rows() > 0 {
                        self.current = Some((batch, 0));
                    } else {
                        // Zero rows still fix the header (and check the columns).
                        let inner = &mut self.inner;
                        inner.push(&batch, &mut Vec::new()).map_err(to_py)?;
                    }
                }
            }
        }
    }

    /// The last, partly filled chunk, or None.
    fn finish(&mut self, py: Python<'_>) -> Option<PyChunk> {
        self.inner.finish().map(|c| to_py_chunk(py, c))
    }

    /// The header line (with its line ending), once the columns are known.
    #[getter]
    fn header<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.header())
    }

    /// Input rows taken so far.
    #[getter]
    fn rows(&self) -> u64 {
        self.inner.rows()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyBatchBuilder>()?;
    m.add_class::<PyChunk>()?;
    Ok(())
}
