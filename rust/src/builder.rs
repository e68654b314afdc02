//! The upload batch builder: Arrow record batches in, Bulk ingest CSV chunks out.
//!
//! Each chunk holds whole rows, starts with the header, and stays within a byte and a row
//! limit. Values are written in the formats Bulk ingest accepts: `true`/`false`, ISO dates,
//! UTC datetimes ending in `Z`, plain decimals without exponents.
use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_data::ArrayData;
use arrow_schema::{DataType, SchemaRef, TimeUnit};

use crate::convert;
use crate::error::{EngineError, ErrorKind, Result};

/// How to write chunks.
#[derive(Clone, Debug)]
pub struct BuilderOptions {
    pub delimiter: u8,
    pub crlf: bool,
    /// Upper bound of a chunk's size in bytes, header included.
    pub max_bytes: usize,
    /// Upper bound of a chunk's data rows.
    pub max_rows: Option<usize>,
    /// Write nulls as `#N/A` (sets the field to null on update/upsert) instead of leaving
    /// the field empty (which leaves it unchanged).
    pub null_as_na: bool,
}

impl Default for BuilderOptions {
    fn default() -> Self {
        BuilderOptions {
            delimiter: b',',
            crlf: false,
            max_bytes: 100_000_000,
            max_rows: None,
            null_as_na: false,
        }
    }
}

/// One upload: CSV bytes holding input rows `start..stop` (0-based, stop exclusive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub data: Vec<u8>,
    pub start: u64,
    pub stop: u64,
}

/// Accumulates rows into chunks.
pub struct ChunkBuilder {
    opts: BuilderOptions,
    names: Option<Vec<String>>,
    header: Vec<u8>,
    cur: Vec<u8>,
    cur_start: u64,
    cur_rows: usize,
    next_row: u64,
    needs_quote: [bool; 256],
}

impl ChunkBuilder {
    pub fn new(opts: BuilderOptions) -> Result<ChunkBuilder> {
        if opts.max_rows == Some(0) {
            return Err(EngineError::new(
                ErrorKind::Invalid,
                "max_rows must be at least 1",
            ));
        }
        let mut needs_quote = [false; 256];
        for b in [b'"', b'\n', b'\r', opts.delimiter] {
            needs_quote[b as usize] = true;
        }
        Ok(ChunkBuilder {
            opts,
            names: None,
            header: Vec::new(),
            cur: Vec::new(),
            cur_start: 0,
            cur_rows: 0,
            next_row: 0,
            needs_quote,
        })
    }

    fn line_end(&self, out: &mut Vec<u8>) {
        if self.opts.crlf {
            out.extend_from_slice(b"\r\n");
        } else {
            out.push(b'\n');
        }
    }

    fn write_text(&self, out: &mut Vec<u8>, s: &[u8]) {
        if s.iter().any(|&b| self.needs_quote[b as usize]) {
            out.push(b'"');
            for &b in s {
                if b == b'"' {
                    out.push(b'"');
                }
                out.push(b);
            }
            out.push(b'"');
        } else {
            out.extend_from_slice(s);
        }
    }

    fn set_schema(&mut self, schema: &SchemaRef) -> Result<()> {
        let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
        if let Some(known) = &self.names {
            if *known != names {
                return Err(EngineError::new(
                    ErrorKind::Invalid,
                    format!(
                        "input batches have different columns ({names:?} after {known:?}); \
                         one upload needs one set of columns"
                    ),
                ));
            }
            return Ok(());
        }
        if names.is_empty() {
            return Err(EngineError::new(
                ErrorKind::Invalid,
                "the input has no columns",
            ));
        }
        let mut header = Vec::new();
        for (i, n) in names.iter().enumerate() {
            if i > 0 {
                header.push(self.opts.delimiter);
            }
            self.write_text(&mut header, n.as_bytes());
        }
        self.line_end(&mut header);
        self.header = header;
        self.names = Some(names);
        Ok(())
    }

    /// Adds `batch`'s rows, moving every chunk that fills up to `out`.
    pub fn push(&mut self, batch: &RecordBatch, out: &mut Vec<Chunk>) -> Result<()> {
        self.set_schema(&batch.schema())?;
        let names = self.names.clone().unwrap_or_default();
        let cols: Vec<Col> = batch
            .columns()
            .iter()
            .zip(&names)
            .map(|(a, n)| Col::new(a, n))
            .collect::<Result<_>>()?;
        let null_text: &[u8] = if self.opts.null_as_na { b"#N/A" } else { b"" };
        let mut cur = std::mem::take(&mut self.cur);
        let mut result = Ok(());
        for r in 0..batch.num_rows() {
            if cur.is_empty() {
                cur.reserve(self.opts.max_bytes.min(1 << 24));
                cur.extend_from_slice(&self.header);
                self.cur_start = self.next_row;
            }
            let row_start = cur.len();
            for (c, col) in cols.iter().enumerate() {
                if c > 0 {
                    cur.push(self.opts.delimiter);
                }
                if let Err(e) = col.write(self, r, &mut cur, null_text) {
                    result = Err(e);
                    break;
                }
            }
            if result.is_err() {
                cur.truncate(row_start);
                break;
            }
            if cur.len() == row_start {
                // A one-column row with no value would be a blank line, which CSV readers
                // skip: write an explicit empty quoted value instead.
                cur.extend_from_slice(b"\"\"");
            }
            self.line_end(&mut cur);
            if cur.len() > self.opts.max_bytes {
                let row_len = cur.len() - row_start;
                if self.cur_rows == 0 || self.header.len() + row_len > self.opts.max_bytes {
                    cur.truncate(row_start);
                    result = Err(EngineError::new(
                        ErrorKind::Invalid,
                        format!(
                            "input row {} needs {} bytes with the header, more than \
                             max_bytes={}; raise max_bytes (Bulk allows 100 MB per upload)",
                            self.next_row,
                            row_len + self.header.len(),
                            self.opts.max_bytes
                        ),
                    ));
                    break;
                }
                // Move the row that did not fit into a fresh chunk.
                let mut next = Vec::with_capacity(self.opts.max_bytes.min(1 << 24));
                next.extend_from_slice(&self.header);
                next.extend_from_slice(&cur[row_start..]);
                cur.truncate(row_start);
                out.push(Chunk {
                    data: std::mem::replace(&mut cur, next),
                    start: self.cur_start,
                    stop: self.next_row,
                });
                self.cur_start = self.next_row;
                self.cur_rows = 0;
            }
            self.cur_rows += 1;
            self.next_row += 1;
            if Some(self.cur_rows) == self.opts.max_rows {
                out.push(Chunk {
                    data: std::mem::take(&mut cur),
                    start: self.cur_start,
                    stop: self.next_row,
                });
                self.cur_rows = 0;
            }
        }
        self.cur = cur;
        result
    }

    /// The last, partly filled chunk, if any row is waiting.
    pub fn finish(&mut self) -> Option<Chunk> {
        if self.cur_rows == 0 {
            return None;
        }
        self.cur_rows = 0;
        Some(Chunk {
            data: std::mem::take(&mut self.cur),
            start: self.cur_start,
            stop: self.next_row,
        })
    }

    /// The header line, once the columns are known.
    pub fn header(&self) -> &[u8] {
        &self.header
    }

    /// Rows taken so far.
    pub fn rows(&self) -> u64 {
        self.next_row
    }
}

/// A column ready to be written cell by cell.
enum Col {
    Text(ArrayRef),
    Bool(ArrayRef),
    Int(ArrayData),
    UInt(ArrayData),
    F32(ArrayRef),
    F64(ArrayRef),
    Date32(ArrayRef),
    Date64(ArrayRef),
    /// i64 values and how many of them make a millisecond (or per-millisecond factor).
    Timestamp(ArrayData, TimeUnit),
    Time(ArrayData, TimeUnit, usize),
    Decimal(ArrayRef, i8),
    Dict(ArrayRef, Vec<usize>, Box<Col>),
    List(ArrayRef, Box<Col>),
    Null,
}

fn unsupported(name: &str, dt: &DataType) -> EngineError {
    EngineError::new(
        ErrorKind::Invalid,
        format!(
            "column {name:?} has type {dt}, which has no Bulk CSV form; cast it to a string, \
             number, boolean, date or datetime first"
        ),
    )
}

impl Col {
    fn new(a: &ArrayRef, name: &str) -> Result<Col> {
        let dt = a.data_type();
        Ok(match dt {
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Col::Text(a.clone()),
            DataType::Boolean => Col::Bool(a.clone()),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                Col::Int(a.to_data())
            }
            DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
                Col::UInt(a.to_data())
            }
            DataType::Float32 => Col::F32(a.clone()),
            DataType::Float64 => Col::F64(a.clone()),
            DataType::Date32 => Col::Date32(a.clone()),
            DataType::Date64 => Col::Date64(a.clone()),
            DataType::Timestamp(unit, _) => Col::Timestamp(a.to_data(), *unit),
            DataType::Time32(unit) => Col::Time(a.to_data(), *unit, 4),
            DataType::Time64(unit) => Col::Time(a.to_data(), *unit, 8),
            DataType::Decimal128(_, scale) => Col::Decimal(a.clone(), *scale),
            DataType::Dictionary(_, _) => {
                let dict = a.as_any_dictionary();
                let keys = dict.normalized_keys();
                let values = Col::new(dict.values(), name)?;
                Col::Dict(a.clone(), keys, Box::new(values))
            }
            DataType::List(_) | DataType::LargeList(_) | DataType::ListView(_) => {
                let inner = match dt {
                    DataType::List(_) => a.as_list::<i32>().values().clone(),
                    DataType::LargeList(_) => a.as_list::<i64>().values().clone(),
                    _ => return Err(unsupported(name, dt)),
                };
                if !matches!(
                    inner.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                ) {
                    return Err(unsupported(name, dt));
                }
                Col::List(a.clone(), Box::new(Col::Text(inner)))
            }
            DataType::Null => Col::Null,
            _ => return Err(unsupported(name, dt)),
        })
    }

    fn is_null(&self, r: usize) -> bool {
        match self {
            Col::Text(a)
            | Col::Bool(a)
            | Col::F32(a)
            | Col::F64(a)
            | Col::Date32(a)
            | Col::Date64(a)
            | Col::Decimal(a, _)
            | Col::List(a, _) => a.is_null(r),
            Col::Int(d) | Col::UInt(d) | Col::Timestamp(d, _) | Col::Time(d, _, _) => d.is_null(r),
            Col::Dict(a, _, _) => a.is_null(r),
            Col::Null => true,
        }
    }

    fn text(a: &ArrayRef, r: usize) -> &[u8] {
        match a.data_type() {
            DataType::Utf8 => a.as_string::<i32>().value(r).as_bytes(),
            DataType::LargeUtf8 => a.as_string::<i64>().value(r).as_bytes(),
            _ => a.as_string_view().value(r).as_bytes(),
        }
    }

    fn write(&self, b: &ChunkBuilder, r: usize, out: &mut Vec<u8>, null: &[u8]) -> Result<()> {
        if self.is_null(r) {
            out.extend_from_slice(null);
            return Ok(());
        }
        match self {
            Col::Text(a) => {
                let s = Self::text(a, r);
                if s.is_empty() {
                    // Salesforce has no empty string: it is a null.
                    out.extend_from_slice(null);
                } else {
                    b.write_text(out, s);
                }
            }
            Col::Bool(a) => out.extend_from_slice(if a.as_boolean().value(r) {
                b"true"
            } else {
                b"false"
            }),
            Col::Int(d) => {
                let v: i64 = match d.data_type() {
                    DataType::Int8 => d.buffer::<i8>(0)[r] as i64,
                    DataType::Int16 => d.buffer::<i16>(0)[r] as i64,
                    DataType::Int32 => d.buffer::<i32>(0)[r] as i64,
                    _ => d.buffer::<i64>(0)[r],
                };
                convert::write_int(out, v);
            }
            Col::UInt(d) => {
                let v: u64 = match d.data_type() {
                    DataType::UInt8 => d.buffer::<u8>(0)[r] as u64,
                    DataType::UInt16 => d.buffer::<u16>(0)[r] as u64,
                    DataType::UInt32 => d.buffer::<u32>(0)[r] as u64,
                    _ => d.buffer::<u64>(0)[r],
                };
                convert::write_uint(out, v);
            }
            Col::F32(a) => {
                let v = a.as_primitive::<Float32Type>().value(r);
                if !convert::write_f32(out, v) {
                    return Err(non_finite(b, r, v as f64));
                }
            }
            Col::F64(a) => {
                let v = a.as_primitive::<Float64Type>().value(r);
                if !convert::write_f64(out, v) {
                    return Err(non_finite(b, r, v));
                }
            }
            Col::Date32(a) => {
                convert::write_date(out, a.as_primitive::<Date32Type>().value(r) as i64)
            }
            Col::Date64(a) => convert::write_date(
                out,
                a.as_primitive::<Date64Type>()
                    .value(r)
                    .div_euclid(86_400_000),
            ),
            Col::Timestamp(d, unit) => {
                let v = d.buffer::<i64>(0)[r];
                let ms = match unit {
                    TimeUnit::Second => v.saturating_mul(1000),
                    TimeUnit::Millisecond => v,
                    TimeUnit::Microsecond => v.div_euclid(1000),
                    TimeUnit::Nanosecond => v.div_euclid(1_000_000),
                };
                convert::write_datetime(out, ms);
            }
            Col::Time(d, unit, width) => {
                let v: i64 = if *width == 4 {
                    d.buffer::<i32>(0)[r] as i64
                } else {
                    d.buffer::<i64>(0)[r]
                };
                let ms = match unit {
                    TimeUnit::Second => v * 1000,
                    TimeUnit::Millisecond => v,
                    TimeUnit::Microsecond => v / 1000,
                    TimeUnit::Nanosecond => v / 1_000_000,
                };
                convert::write_clock(out, ms);
                out.push(b'Z');
            }
            Col::Decimal(a, scale) => {
                convert::write_decimal(out, a.as_primitive::<Decimal128Type>().value(r), *scale)
            }
            Col::Dict(_, keys, values) => values.write(b, keys[r], out, null)?,
            Col::List(a, values) => {
                let (start, end) = match a.data_type() {
                    DataType::List(_) => {
                        let o = a.as_list::<i32>().value_offsets();
                        (o[r] as usize, o[r + 1] as usize)
                    }
                    _ => {
                        let o = a.as_list::<i64>().value_offsets();
                        (o[r] as usize, o[r + 1] as usize)
                    }
                };
                // A multi-select picklist: values joined by `;`, quoted as one field.
                let mut joined = Vec::new();
                let Col::Text(inner) = values.as_ref() else {
                    unreachable!()
                };
                for (k, i) in (start..end).filter(|&i| !inner.is_null(i)).enumerate() {
                    if k > 0 {
                        joined.push(b';');
                    }
                    joined.extend_from_slice(Self::text(inner, i));
                }
                if joined.is_empty() {
                    out.extend_from_slice(null);
                } else {
                    b.write_text(out, &joined);
                }
            }
            Col::Null => out.extend_from_slice(null),
        }
        Ok(())
    }
}

fn non_finite(b: &ChunkBuilder, _r: usize, v: f64) -> EngineError {
    EngineError::new(
        ErrorKind::Invalid,
        format!(
            "input row {}: the value {v} has no Salesforce form (NaN and infinities cannot be \
             uploaded); replace it with null or a number",
            b.next_row
        ),
    )
    .at(b.next_row, 0)
}
