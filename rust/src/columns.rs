//! Building typed Arrow columns from the fields of one decoded batch.
//!
//! All fields of a batch live in one byte buffer; string columns are Utf8View arrays whose
//! views point into that buffer, so string data is never copied.
use std::sync::Arc;

use arrow_array::types::{
    ArrowPrimitiveType, Date32Type, Float64Type, Int64Type, Time64NanosecondType,
    TimestampMicrosecondType,
};
use arrow_array::{ArrayRef, BooleanArray, PrimitiveArray, StringViewArray};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBuffer, ScalarBuffer};

use crate::convert;
use crate::error::{EngineError, ErrorKind, Result};
use crate::types::SfType;

/// The fields of one batch: `bounds[r * ncols + c] .. bounds[r * ncols + c + 1]` is field
/// (r, c) of `buf`.
pub struct BatchFields<'a> {
    pub buf: &'a [u8],
    pub bounds: &'a [u32],
    pub ncols: usize,
    pub nrows: usize,
    /// Stream offset of each row, for error messages.
    pub row_offsets: &'a [u64],
    /// 1-based number of this batch's first data row in the stream.
    pub first_row: u64,
    /// False when some field may hold invalid UTF-8 (checked per field then).
    pub all_utf8: bool,
    /// `#N/A` is a null too.
    pub na_as_null: bool,
}

impl BatchFields<'_> {
    #[inline]
    pub(crate) fn span(&self, r: usize, c: usize) -> (usize, usize) {
        let i = r * self.ncols + c;
        (self.bounds[i] as usize, self.bounds[i + 1] as usize)
    }

    /// Whether `value` stands for null: empty (Salesforce has no empty string), or `#N/A`
    /// when asked.
    #[inline(always)]
    pub(crate) fn is_null(&self, value: &[u8]) -> bool {
        value.is_empty() || (self.na_as_null && value == b"#N/A")
    }

    fn error(&self, kind: ErrorKind, r: usize, column: &str, message: String) -> EngineError {
        EngineError::new(kind, message)
            .at(self.first_row + r as u64, self.row_offsets[r])
            .in_column(column)
    }
}

/// An Arrow string view of `data` found at `offset` in buffer 0: strings of up to 12 bytes
/// are stored in the view itself, longer ones as length, 4-byte prefix and offset.
#[inline(always)]
fn view(data: &[u8], offset: u32) -> u128 {
    let len = data.len();
    if len > 12 {
        let prefix = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
        (len as u128) | ((prefix as u128) << 32) | ((offset as u128) << 96)
    } else {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&(len as u32).to_le_bytes());
        bytes[4..4 + len].copy_from_slice(data);
        u128::from_le_bytes(bytes)
    }
}

/// What to do with a value that does not fit its type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnError {
    Raise,
    Null,
}

/// Shows a bad value in a message, shortened and made printable.
fn show(value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let mut s: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        s.push('…');
    }
    format!("{s:?}")
}

/// Builds column `c` of the batch as `ty`; `nulled` counts values turned into nulls.
pub fn build_column(
    f: &BatchFields<'_>,
    shared: &Buffer,
    c: usize,
    name: &str,
    ty: SfType,
    on_error: OnError,
    nulled: &mut u64,
) -> Result<ArrayRef> {
    Ok(match ty {
        SfType::String => Arc::new(build_strings(f, shared, c, name, on_error, nulled)?),
        SfType::Boolean => Arc::new(build_booleans(f, c, name, on_error, nulled)?),
        SfType::Int => Arc::new(build_primitive::<Int64Type>(
            f,
            c,
            name,
            ty,
            on_error,
            nulled,
            convert::parse_int,
        )?),
        SfType::Double => Arc::new(build_primitive::<Float64Type>(
            f,
            c,
            name,
            ty,
            on_error,
            nulled,
            convert::parse_double,
        )?),
        SfType::Date => Arc::new(build_primitive::<Date32Type>(
            f,
            c,
            name,
            ty,
            on_error,
            nulled,
            convert::parse_date,
        )?),
        SfType::DateTime => Arc::new(
            build_primitive::<TimestampMicrosecondType>(
                f,
                c,
                name,
                ty,
                on_error,
                nulled,
                convert::parse_datetime_micros,
            )?
            .with_timezone("UTC"),
        ),
        SfType::Time => Arc::new(build_primitive::<Time64NanosecondType>(
            f,
            c,
            name,
            ty,
            on_error,
            nulled,
            convert::parse_time,
        )?),
    })
}

/// Collects validity bits only once the first null shows up.
struct Validity {
    bits: Option<BooleanBufferBuilder>,
    len: usize,
}

impl Validity {
    fn new(len: usize) -> Self {
        Validity { bits: None, len }
    }

    #[inline]
    fn set_null(&mut self, r: usize) {
        let len = self.len;
        let bits = self.bits.get_or_insert_with(|| {
            let mut b = BooleanBufferBuilder::new(len);
            b.append_n(len, true);
            b
        });
        bits.set_bit(r, false);
    }

    fn finish(self) -> Option<NullBuffer> {
        self.bits.map(|mut b| NullBuffer::new(b.finish()))
    }
}

fn build_strings(
    f: &BatchFields<'_>,
    shared: &Buffer,
    c: usize,
    name: &str,
    on_error: OnError,
    nulled: &mut u64,
) -> Result<StringViewArray> {
    let mut views: Vec<u128> = Vec::with_capacity(f.nrows);
    let mut validity = Validity::new(f.nrows);
    let mut uses_buffer = false;
    for r in 0..f.nrows {
        let (s, e) = f.span(r, c);
        let value = &f.buf[s..e];
        if f.is_null(value) {
            views.push(0);
            validity.set_null(r);
            continue;
        }
        if !f.all_utf8 && simdutf8::basic::from_utf8(value).is_err() {
            match on_error {
                OnError::Null => {
                    *nulled += 1;
                    views.push(0);
                    validity.set_null(r);
                    continue;
                }
                OnError::Raise => {
                    return Err(f.error(
                        ErrorKind::Utf8,
                        r,
                        name,
                        format!(
                            "row {}, column {name:?}: the value {} is not valid UTF-8 (byte offset \
                             {}). Bulk API results are UTF-8; check that the body was not \
                             re-encoded, or pass on_error='null' to turn such values into nulls",
                            f.first_row + r as u64,
                            show(value),
                            f.row_offsets[r]
                        ),
                    ));
                }
            }
        }
        uses_buffer |= value.len() > 12;
        views.push(view(value, s as u32));
    }
    let buffers = if uses_buffer {
        vec![shared.clone()]
    } else {
        Vec::new()
    };
    // SAFETY: every view was made by `view` from a slice of `shared` at its own offset,
    // and every non-null value was checked to be UTF-8 (whole-buffer check or per value).
    Ok(unsafe {
        StringViewArray::new_unchecked(ScalarBuffer::from(views), buffers.into(), validity.finish())
    })
}

fn conversion_error(
    f: &BatchFields<'_>,
    r: usize,
    name: &str,
    ty: SfType,
    value: &[u8],
) -> EngineError {
    f.error(
        ErrorKind::TypeConversion,
        r,
        name,
        format!(
            "row {}, column {name:?}: cannot read {} as {} (byte offset {}). Check the type \
             given for this column in the schema, or pass on_error='null' to turn values that \
             do not fit into nulls",
            f.first_row + r as u64,
            show(value),
            ty.name(),
            f.row_offsets[r]
        ),
    )
}

fn build_booleans(
    f: &BatchFields<'_>,
    c: usize,
    name: &str,
    on_error: OnError,
    nulled: &mut u64,
) -> Result<BooleanArray> {
    let mut values = BooleanBufferBuilder::new(f.nrows);
    let mut validity = Validity::new(f.nrows);
    for r in 0..f.nrows {
        let (s, e) = f.span(r, c);
        let value = &f.buf[s..e];
        if f.is_null(value) {
            values.append(false);
            validity.set_null(r);
            continue;
        }
        match convert::parse_bool(value) {
            Some(v) => values.append(v),
            None => {
                if on_error == OnError::Raise {
                    return Err(conversion_error(f, r, name, SfType::Boolean, value));
                }
                *nulled += 1;
                values.append(false);
                validity.set_null(r);
            }
        }
    }
    Ok(BooleanArray::new(values.finish(), validity.finish()))
}

fn build_primitive<T: ArrowPrimitiveType>(
    f: &BatchFields<'_>,
    c: usize,
    name: &str,
    ty: SfType,
    on_error: OnError,
    nulled: &mut u64,
    parse: impl Fn(&[u8]) -> Option<T::Native>,
) -> Result<PrimitiveArray<T>> {
    let mut values: Vec<T::Native> = Vec::with_capacity(f.nrows);
    let mut validity = Validity::new(f.nrows);
    for r in 0..f.nrows {
        let (s, e) = f.span(r, c);
        let value = &f.buf[s..e];
        if f.is_null(value) {
            values.push(T::Native::default());
            validity.set_null(r);
            continue;
        }
        match parse(value) {
            Some(v) => values.push(v),
            None => {
                if on_error == OnError::Raise {
                    return Err(conversion_error(f, r, name, ty, value));
                }
                *nulled += 1;
                values.push(T::Native::default());
                validity.set_null(r);
            }
        }
    }
    Ok(PrimitiveArray::<T>::new(
        ScalarBuffer::from(values),
        validity.finish(),
    ))
}
