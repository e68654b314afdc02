//! Whole-stream pipelines that never leave Rust: a CSV file to a Parquet file.
use std::fs::File;
use std::io::Read;
use std::path::Path;

use parquet::basic::Compression;

use crate::decoder::{Decoder, DecoderOptions};
use crate::error::{EngineError, ErrorKind, Result};
use crate::parquet_sink::ParquetSink;

/// Streams `source` (Bulk result CSV, maybe gzip) into a Parquet file at `path`.
pub fn csv_file_to_parquet(
    source: &Path,
    path: &Path,
    opts: DecoderOptions,
    codec: Compression,
) -> Result<u64> {
    let mut file = File::open(source).map_err(|e| {
        EngineError::new(
            ErrorKind::Io,
            format!("cannot open {}: {e}", source.display()),
        )
    })?;
    let mut dec = Decoder::new(opts)?;
    let mut sink: Option<ParquetSink> = None;
    let mut buf = vec![0u8; 1 << 20];
    let write = |batches: Vec<arrow_array::RecordBatch>, sink: &mut Option<ParquetSink>| {
        for b in batches {
            if sink.is_none() {
                *sink = Some(ParquetSink::create(path, b.schema(), codec)?);
            }
            sink.as_mut().expect("created above").write(&b)?;
        }
        Ok::<_, EngineError>(())
    };
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        write(dec.feed(&buf[..n])?, &mut sink)?;
    }
    write(dec.finish()?, &mut sink)?;
    let mut sink = match sink {
        Some(s) => s,
        None => {
            let schema = dec
                .schema_or_declared()
                .unwrap_or_else(|| std::sync::Arc::new(arrow_schema::Schema::empty()));
            ParquetSink::create(path, schema, codec)?
        }
    };
    sink.close()
}
