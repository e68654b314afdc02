//! Helpers shared by the engine tests: decoding to plain values, encoding Bulk CSV.
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

use crate::decoder::{Decoder, DecoderOptions};
use crate::error::Result;

/// A cell rendered for comparison: None is null.
pub type Cell = Option<String>;

/// Renders every cell of `batches` as text (strings as-is, other types via Debug of value).
pub fn cells(batches: &[RecordBatch]) -> Vec<Vec<Cell>> {
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let mut row = Vec::new();
            for c in b.columns() {
                if c.is_null(r) {
                    row.push(None);
                    continue;
                }
                let v = match c.data_type() {
                    DataType::Utf8View => c.as_string_view().value(r).to_string(),
                    DataType::Int64 => c
                        .as_primitive::<arrow_array::types::Int64Type>()
                        .value(r)
                        .to_string(),
                    DataType::Float64 => c
                        .as_primitive::<arrow_array::types::Float64Type>()
                        .value(r)
                        .to_string(),
                    DataType::Boolean => c.as_boolean().value(r).to_string(),
                    other => format!("<{other}>"),
                };
                row.push(Some(v));
            }
            rows.push(row);
        }
    }
    rows
}

/// Decodes `pieces` as one stream.
pub fn decode(opts: DecoderOptions, pieces: &[&[u8]]) -> Result<Vec<RecordBatch>> {
    let mut d = Decoder::new(opts)?;
    let mut out = Vec::new();
    for p in pieces {
        out.extend(d.feed(p)?);
    }
    out.extend(d.finish()?);
    Ok(out)
}

/// Writes `rows` the way Bulk query results are written: every value quoted, null as `""`.
pub fn bulk_csv(header: &[&str], rows: &[Vec<Cell>], delim: u8, crlf: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let eol: &[u8] = if crlf { b"\r\n" } else { b"\n" };
    let line = |fields: Vec<&str>, out: &mut Vec<u8>| {
        for (i, f) in fields.iter().enumerate() {
            if i > 0 {
                out.push(delim);
            }
            out.push(b'"');
            out.extend_from_slice(f.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        }
        out.extend_from_slice(eol);
    };
    line(header.to_vec(), &mut out);
    for r in rows {
        line(
            r.iter().map(|c| c.as_deref().unwrap_or("")).collect(),
            &mut out,
        );
    }
    out
}
