//! Row digests: what pairs an ingest job's result rows with the rows that were uploaded.
//!
//! Salesforce echoes each uploaded row's values in the job's result sets, in any order. An
//! import matches them by a 128-bit digest of those values: XXH3-128 over each value's length
//! and bytes, in key order. Upload and results are digested here whichever way they are read
//! (CSV through the decoder's digest mode, or Arrow string columns through `digest_columns`),
//! so equal values always give equal digests.
use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{
    Array, ArrayRef, LargeStringArray, RecordBatch, RecordBatchOptions, StringArray,
    StringViewArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Schema};
use twox_hash::XxHash3_128;

use crate::columns::BatchFields;
use crate::error::{EngineError, ErrorKind, Result};

const SEED: u64 = 0x5F37_59DF_9E37_79B9;

/// What the decoder returns in digest mode instead of a batch's columns.
#[derive(Clone, Debug)]
pub struct DigestSpec {
    /// The columns digested, in this order, found by name whatever its case (a column the
    /// header lacks counts as empty); None: every column, in header order.
    pub keys: Option<Vec<String>>,
    /// Names of the two 64-bit halves of the digest.
    pub names: [String; 2],
    /// Columns kept as text beside the digests (null when empty or not in the header).
    pub keep: Vec<String>,
}

/// Digests rows, reusing one scratch buffer.
#[derive(Default)]
pub struct RowDigester {
    scratch: Vec<u8>,
}

impl RowDigester {
    /// The digest of one row's values, as two halves.
    pub fn digest<'a>(&mut self, values: impl IntoIterator<Item = &'a [u8]>) -> (u64, u64) {
        self.scratch.clear();
        for value in values {
            self.scratch
                .extend_from_slice(&(value.len() as u64).to_le_bytes());
            self.scratch.extend_from_slice(value);
        }
        let hash = XxHash3_128::oneshot_with_seed(SEED, &self.scratch);
        (hash as u64, (hash >> 64) as u64)
    }
}

/// The two digest columns of `rows` rows, `digest` giving row `r`'s.
fn digest_rows(
    rows: usize,
    mut digest: impl FnMut(&mut RowDigester, usize) -> (u64, u64),
) -> Vec<ArrayRef> {
    let mut digester = RowDigester::default();
    let (mut first, mut second) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for r in 0..rows {
        let (a, b) = digest(&mut digester, r);
        first.push(a);
        second.push(b);
    }
    vec![
        Arc::new(UInt64Array::from(first)),
        Arc::new(UInt64Array::from(second)),
    ]
}

/// Where each of `wanted` is in `header`, by name whatever its case (the last of names that
/// differ only in case); None for a name the header lacks.
pub fn positions(header: &[String], wanted: &[String]) -> Vec<Option<usize>> {
    let lower: Vec<String> = header.iter().map(|h| h.to_lowercase()).collect();
    wanted
        .iter()
        .map(|name| {
            let name = name.to_lowercase();
            lower.iter().rposition(|h| *h == name)
        })
        .collect()
}

/// The two digest columns named `names`, then `keep` as text.
fn digest_schema(names: &[String; 2], keep: &[String]) -> Vec<Field> {
    let mut fields = vec![
        Field::new(&names[0], DataType::UInt64, false),
        Field::new(&names[1], DataType::UInt64, false),
    ];
    fields.extend(
        keep.iter()
            .map(|name| Field::new(name, DataType::Utf8, true)),
    );
    fields
}

/// The decoder's digest-mode batch for the rows of `fields` (valid UTF-8): the two digest
/// columns, then the `keep` columns.
pub(crate) fn digest_fields(
    spec: &DigestSpec,
    header: &[String],
    fields: &BatchFields<'_>,
) -> Result<RecordBatch> {
    let keys = match &spec.keys {
        Some(keys) => positions(header, keys),
        None => (0..header.len()).map(Some).collect(),
    };
    let value = |r: usize, at: Option<usize>| -> &[u8] {
        match at {
            Some(c) => {
                let (start, end) = fields.span(r, c);
                let value = &fields.buf[start..end];
                if fields.is_null(value) {
                    b""
                } else {
                    value
                }
            }
            None => b"",
        }
    };
    let mut columns = digest_rows(fields.nrows, |digester, r| {
        digester.digest(keys.iter().map(|&at| value(r, at)))
    });
    for at in positions(header, &spec.keep) {
        // Copied out: a view into the batch's buffer would keep all of its text alive.
        let mut text = StringBuilder::with_capacity(fields.nrows, 0);
        for r in 0..fields.nrows {
            match value(r, at) {
                b"" => text.append_null(),
                bytes => text.append_value(std::str::from_utf8(bytes).map_err(|_| {
                    EngineError::new(ErrorKind::Utf8, "a kept value is not valid UTF-8")
                })?),
            }
        }
        columns.push(Arc::new(text.finish()));
    }
    let options = RecordBatchOptions::new().with_row_count(Some(fields.nrows));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(digest_schema(&spec.names, &spec.keep))),
        columns,
        &options,
    )?)
}

/// One string column, whichever Arrow layout holds it.
enum Text<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Text<'a> {
    fn of(column: &'a ArrayRef) -> Result<Text<'a>> {
        let any = column.as_any();
        if let Some(a) = any.downcast_ref::<StringArray>() {
            return Ok(Text::Utf8(a));
        }
        if let Some(a) = any.downcast_ref::<LargeStringArray>() {
            return Ok(Text::Large(a));
        }
        if let Some(a) = any.downcast_ref::<StringViewArray>() {
            return Ok(Text::View(a));
        }
        Err(EngineError::new(
            ErrorKind::Invalid,
            format!(
                "row digests take string columns, not {}",
                column.data_type()
            ),
        ))
    }

    /// Row `r`'s bytes; a null is empty.
    fn value(&self, r: usize) -> &'a [u8] {
        match self {
            Text::Utf8(a) if a.is_valid(r) => a.value(r).as_bytes(),
            Text::Large(a) if a.is_valid(r) => a.value(r).as_bytes(),
            Text::View(a) if a.is_valid(r) => a.value(r).as_bytes(),
            _ => b"",
        }
    }
}

/// The digests of each row of `batch`, whose columns (strings; null counts as empty) are the
/// keys in order: a batch of the two columns `names`.
pub fn digest_columns(batch: &RecordBatch, names: &[String; 2]) -> Result<RecordBatch> {
    let texts = batch
        .columns()
        .iter()
        .map(Text::of)
        .collect::<Result<Vec<_>>>()?;
    let rows = batch.num_rows();
    let columns = digest_rows(rows, |digester, r| {
        digester.digest(texts.iter().map(|t| t.value(r)))
    });
    let options = RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(digest_schema(names, &[]))),
        columns,
        &options,
    )?)
}
