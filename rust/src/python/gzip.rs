//! Python binding of the gzip compressor (the devorg's compressed result pages).
use std::path::PathBuf;

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;

/// Compresses `head` followed by bytes `[start, end)` of `source` into a gzip file at
/// `target`, without the GIL; returns the compressed size.
#[pyfunction]
#[pyo3(signature = (head, source, start, end, target, *, level=1))]
fn gzip_file_range(
    py: Python<'_>,
    head: PyBackedBytes,
    source: PathBuf,
    start: u64,
    end: u64,
    target: PathBuf,
    level: u32,
) -> PyResult<u64> {
    py.detach(|| crate::gzip::compress_file_range(&head, &source, start, end, &target, level))
        .map_err(|e| PyOSError::new_err(format!("cannot compress {}: {e}", source.display())))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(gzip_file_range, m)?)?;
    Ok(())
}
