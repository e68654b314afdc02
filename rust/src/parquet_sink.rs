//! The Parquet sink: record batches in, one Parquet file out, in bounded memory.
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::error::{EngineError, ErrorKind, Result};

/// A row group is closed once its encoded data reaches this size, or at this many rows (the
/// order of DuckDB's row groups), so memory stays bounded however many rows arrive: the
/// writer holds the whole open row group, encoded, until it is flushed.
const ROW_GROUP_BYTES: usize = 8 << 20;
const ROW_GROUP_ROWS: usize = 1 << 17;

/// Parses a compression name: `zstd` (default level 1, or `zstd:N`), `snappy`, `none`.
pub fn compression(name: &str) -> Result<Compression> {
    let lower = name.to_ascii_lowercase();
    let (codec, level) = match lower.split_once(':') {
        Some((c, l)) => (c.to_string(), Some(l.to_string())),
        None => (lower.clone(), None),
    };
    Ok(match codec.as_str() {
        "zstd" => {
            let lvl: i32 = match level {
                Some(l) => l.parse().map_err(|_| bad_compression(name))?,
                None => 1,
            };
            Compression::ZSTD(ZstdLevel::try_new(lvl).map_err(|_| bad_compression(name))?)
        }
        "snappy" | "snap" => Compression::SNAPPY,
        "none" | "uncompressed" => Compression::UNCOMPRESSED,
        _ => return Err(bad_compression(name)),
    })
}

fn bad_compression(name: &str) -> EngineError {
    EngineError::new(
        ErrorKind::Invalid,
        format!("unknown Parquet compression {name:?}: use \"zstd\", \"zstd:LEVEL\", \"snappy\" or \"none\""),
    )
}

/// Writes batches that all share one schema to a Parquet file.
pub struct ParquetSink {
    writer: Option<ArrowWriter<BufWriter<File>>>,
    schema: SchemaRef,
    rows: u64,
}

impl ParquetSink {
    /// Creates (or truncates) `path` for batches of `schema`.
    pub fn create(path: &Path, schema: SchemaRef, codec: Compression) -> Result<ParquetSink> {
        let file = File::create(path).map_err(|e| {
            EngineError::new(
                ErrorKind::Io,
                format!("cannot create {}: {e}", path.display()),
            )
        })?;
        // No dictionary pages: Bulk results are mostly distinct strings (ids, names,
        // addresses), where a dictionary fills up and is abandoned after every value was
        // hashed. Plain pages under zstd came out smaller, and encoding took a third less time.
        let props = WriterProperties::builder()
            .set_compression(codec)
            .set_dictionary_enabled(false)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, file),
            schema.clone(),
            Some(props),
        )?;
        Ok(ParquetSink {
            writer: Some(writer),
            schema,
            rows: 0,
        })
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Appends `batch`; its columns must match the file's schema.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let writer = self.writer.as_mut().ok_or_else(closed)?;
        let expected = self.schema.fields();
        let got = batch.schema();
        let same = expected.len() == got.fields().len()
            && expected
                .iter()
                .zip(got.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return Err(EngineError::new(
                ErrorKind::Invalid,
                format!(
                    "this batch's columns ({}) differ from the Parquet file's ({}); decode every \
                     page with the same schema",
                    describe(&got),
                    describe(&self.schema)
                ),
            ));
        }
        writer.write(batch)?;
        self.rows += batch.num_rows() as u64;
        if writer.in_progress_size() >= ROW_GROUP_BYTES {
            writer.flush()?;
        }
        Ok(())
    }

    /// Finishes the file; returns the rows written.
    pub fn close(&mut self) -> Result<u64> {
        if let Some(writer) = self.writer.take() {
            writer.close()?;
        }
        Ok(self.rows)
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }
}

fn describe(schema: &SchemaRef) -> String {
    schema
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn closed() -> EngineError {
    EngineError::new(ErrorKind::Invalid, "the Parquet writer is closed")
}
