//! Python binding of the streaming decoder.
use std::path::PathBuf;

use arrow_array::RecordBatch;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyDict;

use pyo3::exceptions::PyValueError;

use super::arrow::{import_reader, PyRecordBatch, PySchema};
use super::errors::to_py;
use super::options;
use crate::decoder::{Decoder, DecoderOptions};
use crate::digest::{digest_columns, DigestSpec};

/// Streaming decoder for Bulk API 2.0 result CSV. See `sfbulk_mcp.engine.Decoder`.
#[pyclass(name = "Decoder", module = "sfbulk_mcp._engine")]
pub struct PyDecoder {
    inner: Decoder,
}

fn wrap(batches: Vec<RecordBatch>) -> Vec<PyRecordBatch> {
    batches
        .into_iter()
        .map(|batch| PyRecordBatch { batch })
        .collect()
}

#[allow(clippy::too_many_arguments)]
pub fn build_options(
    schema: Option<&Bound<'_, PyDict>>,
    columns: Option<Vec<String>>,
    has_header: bool,
    delimiter: &str,
    line_ending: &str,
    batch_size: usize,
    gzip: Option<bool>,
    on_error: &str,
    na_as_null: bool,
    skip_repeated_headers: bool,
) -> PyResult<DecoderOptions> {
    Ok(DecoderOptions {
        delimiter: options::delimiter(delimiter)?,
        crlf: options::crlf(line_ending)?,
        types: options::type_map(schema)?,
        columns,
        has_header,
        batch_size,
        on_error: options::on_error(on_error)?,
        gzip: options::gzip(gzip),
        na_as_null,
        skip_repeated_headers,
        digest: None,
    })
}

#[pymethods]
impl PyDecoder {
    #[new]
    #[pyo3(signature = (*, schema=None, columns=None, has_header=true, delimiter="COMMA",
                        line_ending="LF", batch_size=8192, gzip=None, on_error="raise",
                        na_as_null=false, skip_repeated_headers=true, digest=None,
                        digest_keys=None, keep=Vec::new()))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        schema: Option<&Bound<'_, PyDict>>,
        columns: Option<Vec<String>>,
        has_header: bool,
        delimiter: &str,
        line_ending: &str,
        batch_size: usize,
        gzip: Option<bool>,
        on_error: &str,
        na_as_null: bool,
        skip_repeated_headers: bool,
        digest: Option<(String, String)>,
        digest_keys: Option<Vec<String>>,
        keep: Vec<String>,
    ) -> PyResult<Self> {
        let mut opts = build_options(
            schema,
            columns,
            has_header,
            delimiter,
            line_ending,
            batch_size,
            gzip,
            on_error,
            na_as_null,
            skip_repeated_headers,
        )?;
        opts.digest = digest.map(|(first, second)| DigestSpec {
            keys: digest_keys,
            names: [first, second],
            keep,
        });
        Ok(PyDecoder {
            inner: Decoder::new(opts).map_err(to_py)?,
        })
    }

    /// Parses `data` (the GIL is released meanwhile); returns the batches it completed.
    fn feed(&mut self, py: Python<'_>, data: PyBackedBytes) -> PyResult<Vec<PyRecordBatch>> {
        let inner = &mut self.inner;
        let batches = py.detach(|| inner.feed(&data)).map_err(to_py)?;
        Ok(wrap(batches))
    }

    /// Ends the current page; the next bytes start a new page with its own header.
    fn end_page(&mut self, py: Python<'_>) -> PyResult<Vec<PyRecordBatch>> {
        let inner = &mut self.inner;
        Ok(wrap(py.detach(|| inner.end_page()).map_err(to_py)?))
    }

    /// Ends the stream; returns the last batches.
    fn finish(&mut self, py: Python<'_>) -> PyResult<Vec<PyRecordBatch>> {
        let inner = &mut self.inner;
        Ok(wrap(py.detach(|| inner.finish()).map_err(to_py)?))
    }

    /// The Arrow schema, once known (after the header, or from `columns`).
    #[getter]
    fn schema(&self) -> Option<PySchema> {
        self.inner
            .schema_or_declared()
            .map(|schema| PySchema { schema })
    }

    /// Data rows emitted so far.
    #[getter]
    fn rows(&self) -> u64 {
        self.inner.rows()
    }

    /// Values turned into nulls under `on_error="null"`.
    #[getter]
    fn nulled(&self) -> u64 {
        self.inner.nulled()
    }

    /// Decompressed bytes parsed so far.
    #[getter]
    fn bytes_consumed(&self) -> u64 {
        self.inner.bytes_consumed()
    }

    /// Pages ended so far (by `end_page` or `finish`).
    #[getter]
    fn pages(&self) -> u64 {
        self.inner.pages()
    }
}

/// Decodes one complete body in a single call (one GIL release): feed, then finish.
#[pyfunction]
#[pyo3(signature = (data, *, schema=None, columns=None, has_header=true, delimiter="COMMA",
                    line_ending="LF", batch_size=8192, gzip=None, on_error="raise",
                    na_as_null=false))]
#[allow(clippy::too_many_arguments)]
fn decode_body(
    py: Python<'_>,
    data: PyBackedBytes,
    schema: Option<&Bound<'_, PyDict>>,
    columns: Option<Vec<String>>,
    has_header: bool,
    delimiter: &str,
    line_ending: &str,
    batch_size: usize,
    gzip: Option<bool>,
    on_error: &str,
    na_as_null: bool,
) -> PyResult<(Vec<PyRecordBatch>, Option<PySchema>, u64)> {
    let opts = build_options(
        schema,
        columns,
        has_header,
        delimiter,
        line_ending,
        batch_size,
        gzip,
        on_error,
        na_as_null,
        true,
    )?;
    let (batches, schema, nulled) = py
        .detach(|| {
            let mut dec = Decoder::new(opts)?;
            let mut out = dec.feed(&data)?;
            out.extend(dec.finish()?);
            Ok::<_, crate::error::EngineError>((out, dec.schema_or_declared(), dec.nulled()))
        })
        .map_err(to_py)?;
    Ok((
        wrap(batches),
        schema.map(|schema| PySchema { schema }),
        nulled,
    ))
}

/// Decodes a CSV file on disk straight to Parquet, in bounded memory; returns rows written.
#[pyfunction]
#[pyo3(signature = (source, path, *, schema=None, delimiter="COMMA", line_ending="LF",
                    compression="zstd", batch_size=8192, gzip=None, on_error="raise"))]
#[allow(clippy::too_many_arguments)]
fn csv_file_to_parquet(
    py: Python<'_>,
    source: PathBuf,
    path: PathBuf,
    schema: Option<&Bound<'_, PyDict>>,
    delimiter: &str,
    line_ending: &str,
    compression: &str,
    batch_size: usize,
    gzip: Option<bool>,
    on_error: &str,
) -> PyResult<u64> {
    let opts = build_options(
        schema,
        None,
        true,
        delimiter,
        line_ending,
        batch_size,
        gzip,
        on_error,
        false,
        true,
    )?;
    let codec = crate::parquet_sink::compression(compression).map_err(to_py)?;
    py.detach(|| crate::pipeline::csv_file_to_parquet(&source, &path, opts, codec))
        .map_err(to_py)
}

/// The digests (see `Decoder`'s digest mode) of each row of a table of string columns, the
/// keys in order: a batch of two UInt64 columns named `names`.
#[pyfunction]
fn row_digests(
    py: Python<'_>,
    table: &Bound<'_, PyAny>,
    names: (String, String),
) -> PyResult<Vec<PyRecordBatch>> {
    let reader = import_reader(table)?;
    let names = [names.0, names.1];
    py.detach(|| {
        reader
            .map(|batch| {
                let batch =
                    batch.map_err(|e| PyValueError::new_err(format!("Arrow error: {e}")))?;
                digest_columns(&batch, &names).map_err(to_py)
            })
            .collect::<PyResult<Vec<_>>>()
    })
    .map(wrap)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(row_digests, m)?)?;
    m.add_class::<PyDecoder>()?;
    m.add_function(wrap_pyfunction!(decode_body, m)?)?;
    m.add_function(wrap_pyfunction!(csv_file_to_parquet, m)?)?;
    Ok(())
}
