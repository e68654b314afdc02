//! Reading a Parquet file a batch of rows at a time: memory holds one row group's column
//! chunks and one decoded batch, whatever the file's size.
use std::fs::File;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use crate::error::{EngineError, ErrorKind, Result};

/// The record batches of one Parquet file, in file order.
pub struct ParquetSource {
    reader: ParquetRecordBatchReader,
    schema: SchemaRef,
    rows: u64,
}

fn invalid(path: &Path, e: impl std::fmt::Display) -> EngineError {
    EngineError::new(
        ErrorKind::Invalid,
        format!("cannot read {}: {e}", path.display()),
    )
}

impl ParquetSource {
    /// Opens `path`; batches hold at most `batch_rows` rows.
    pub fn open(path: &Path, batch_rows: usize) -> Result<ParquetSource> {
        let file = File::open(path).map_err(|e| {
            EngineError::new(
                ErrorKind::Io,
                format!("cannot open {}: {e}", path.display()),
            )
        })?;
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| invalid(path, e))?;
        let rows = u64::try_from(builder.metadata().file_metadata().num_rows()).unwrap_or(0);
        let schema = builder.schema().clone();
        let reader = builder
            .with_batch_size(batch_rows.max(1))
            .build()
            .map_err(|e| invalid(path, e))?;
        Ok(ParquetSource {
            reader,
            schema,
            rows,
        })
    }

    /// The file's Arrow schema.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Rows in the file.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The next batch, or None at the end of the file.
    pub fn next_batch(&mut self) -> Option<Result<RecordBatch>> {
        self.reader.next().map(|r| {
            r.map_err(|e| EngineError::new(ErrorKind::Invalid, format!("Parquet read error: {e}")))
        })
    }
}
