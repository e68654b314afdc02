//! The sfbulk-mcp engine: streaming Bulk API 2.0 CSV decoding and upload batch building.
use pyo3::prelude::*;

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
