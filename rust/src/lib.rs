//! The sfbulk-mcp engine: streaming Bulk API 2.0 CSV decoding, typed Arrow output, a
//! Parquet sink, and the upload batch builder. Plain Rust modules hold the logic; `python`
//! is the thin PyO3 layer.
pub mod builder;
pub mod columns;
pub mod convert;
pub mod decoder;
pub mod digest;
pub mod error;
pub mod gzip;
pub mod ingest_table;
pub mod parquet_sink;
pub mod parquet_source;
pub mod pipeline;
pub mod sqlite_lines;
pub mod sqlite_link;
pub mod types;

mod python;

use pyo3::prelude::*;

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    python::register(m)
}

#[cfg(test)]
mod tests;
