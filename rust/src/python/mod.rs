//! The thin PyO3 layer: argument conversion, GIL release, Arrow PyCapsules, exceptions.
//! All logic lives in the plain Rust modules next to this one.
use pyo3::prelude::*;

mod arrow;
mod builder;
mod decoder;
mod errors;
mod gzip;
mod ingest_table;
mod options;
mod parquet;
mod sqlite_link;

/// Registers the module's classes, functions and exceptions.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    errors::register(m)?;
    arrow::register(m)?;
    decoder::register(m)?;
    parquet::register(m)?;
    builder::register(m)?;
    gzip::register(m)?;
    ingest_table::register(m)?;
    sqlite_link::register(m)?;
    Ok(())
}
