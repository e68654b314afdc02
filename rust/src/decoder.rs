//! The streaming Bulk API 2.0 result decoder: bytes in, typed Arrow record batches out.
//!
//! Bytes may arrive in chunks split anywhere (mid-field, mid-quote, between CR and LF,
//! inside a multi-byte character): `csv-core` keeps the parse state between calls and the
//! fields of a batch accumulate in one buffer that only becomes Arrow data when the batch is
//! complete, so no partial value is ever interpreted.
use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_buffer::Buffer;
use arrow_schema::SchemaRef;
use csv_core::{ReadRecordResult, Reader, ReaderBuilder, Terminator};

use crate::columns::{build_column, BatchFields, OnError};
use crate::digest::{digest_fields, DigestSpec};
use crate::error::{EngineError, ErrorKind, Result};
use crate::gzip::{GzipMode, PageInput};
use crate::types::{arrow_schema, repeated_column, SfType, TypeMap};

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// A batch buffer never grows past this: view offsets are 32-bit.
const MAX_BATCH_BYTES: usize = 1 << 30;

/// The Bulk API `columnDelimiter` values.
pub fn delimiter_byte(name: &str) -> Option<u8> {
    Some(match name.to_ascii_uppercase().as_str() {
        "COMMA" | "," => b',',
        "TAB" | "\t" => b'\t',
        "PIPE" | "|" => b'|',
        "SEMICOLON" | ";" => b';',
        "CARET" | "^" => b'^',
        "BACKQUOTE" | "`" => b'`',
        _ => return None,
    })
}

/// The Bulk API `lineEnding` values: true for CRLF.
pub fn line_ending_is_crlf(name: &str) -> Option<bool> {
    match name.to_ascii_uppercase().as_str() {
        "LF" | "\n" => Some(false),
        "CRLF" | "\r\n" => Some(true),
        _ => None,
    }
}

/// How to decode a stream.
#[derive(Clone, Debug)]
pub struct DecoderOptions {
    pub delimiter: u8,
    /// The job's `lineEnding` (true for CRLF). The parser accepts LF, CRLF and CR either way.
    pub crlf: bool,
    /// Column name → type; columns not named are strings.
    pub types: TypeMap,
    /// The expected columns in order; each page's header must match them. Required when
    /// `has_header` is false.
    pub columns: Option<Vec<String>>,
    pub has_header: bool,
    /// Rows per record batch.
    pub batch_size: usize,
    pub on_error: OnError,
    pub gzip: GzipMode,
    /// Read `#N/A` as null, as ingest result files echo the uploads that used it to null a
    /// field (query results never contain it).
    pub na_as_null: bool,
    /// Skip data rows that spell the header again (pages joined into one stream). Off for a
    /// single CSV document, where such a row is data: every row must come out.
    pub skip_repeated_headers: bool,
    /// Digest mode: each batch holds the rows' digests (and the columns it keeps) instead of
    /// their columns; see `digest`.
    pub digest: Option<DigestSpec>,
}

impl Default for DecoderOptions {
    fn default() -> Self {
        DecoderOptions {
            delimiter: b',',
            crlf: false,
            types: TypeMap::default(),
            columns: None,
            has_header: true,
            batch_size: 8192,
            on_error: OnError::Raise,
            gzip: GzipMode::Auto,
            na_as_null: false,
            skip_repeated_headers: true,
            digest: None,
        }
    }
}

/// Parsing state that the input stage feeds; kept apart from the gzip stage so the two can
/// be borrowed separately.
struct Parser {
    opts: DecoderOptions,
    reader: Reader,
    /// Field bytes of the current batch; `buf[..used]` is live, the rest is spare room.
    buf: Vec<u8>,
    used: usize,
    /// Field ends of complete rows, with a leading 0: see `BatchFields`.
    bounds: Vec<u32>,
    row_offsets: Vec<u64>,
    batch_rows: usize,
    /// Start in `buf` of the record being parsed, and its field ends (relative to it).
    rec_start: usize,
    rec_ends: Vec<usize>,
    rec_nfields: usize,
    /// Stream offset (decompressed bytes) where the current record began.
    rec_offset: u64,
    consumed: u64,
    /// Still looking at the first bytes of a page for a byte-order mark.
    bom_check: bool,
    bom_held: Vec<u8>,
    expect_header: bool,
    header: Option<Vec<String>>,
    schema: Option<SchemaRef>,
    col_types: Vec<SfType>,
    rows_done: u64,
    nulled: u64,
    next_capacity: usize,
    pages: u64,
}

/// The decoder. Feed it bytes, collect batches, call `finish` at the end.
pub struct Decoder {
    input: PageInput,
    parser: Parser,
    finished: bool,
}

fn csv_reader(opts: &DecoderOptions) -> Reader {
    ReaderBuilder::new()
        .delimiter(opts.delimiter)
        // Both line endings are accepted whatever the job says (`crlf` only documents the
        // source): a CRLF body read as LF would otherwise leave a CR in every last field.
        .terminator(Terminator::CRLF)
        .quote(b'"')
        .double_quote(true)
        .build()
}

impl Decoder {
    /// A decoder with `opts`; fails when the options contradict each other.
    pub fn new(opts: DecoderOptions) -> Result<Decoder> {
        if opts.batch_size == 0 {
            return Err(EngineError::new(
                ErrorKind::Invalid,
                "batch_size must be at least 1",
            ));
        }
        if !opts.has_header && opts.columns.is_none() {
            return Err(EngineError::new(
                ErrorKind::Invalid,
                "a stream without a header row needs its column names: pass columns=[...]",
            ));
        }
        if let Some(name) = opts.columns.as_deref().and_then(repeated_column) {
            return Err(EngineError::new(
                ErrorKind::Invalid,
                format!("columns names {name:?} more than once; column names must be unique"),
            ));
        }
        let mut parser = Parser {
            reader: csv_reader(&opts),
            buf: Vec::new(),
            used: 0,
            bounds: vec![0],
            row_offsets: Vec::new(),
            batch_rows: 0,
            rec_start: 0,
            rec_ends: vec![0; 64],
            rec_nfields: 0,
            rec_offset: 0,
            consumed: 0,
            bom_check: true,
            bom_held: Vec::new(),
            expect_header: opts.has_header,
            header: None,
            schema: None,
            col_types: Vec::new(),
            rows_done: 0,
            nulled: 0,
            next_capacity: 1 << 16,
            pages: 0,
            opts,
        };
        if !parser.opts.has_header {
            let cols = parser.opts.columns.clone().unwrap_or_default();
            parser.set_columns(cols);
        }
        Ok(Decoder {
            input: PageInput::new(parser.opts.gzip),
            parser,
            finished: false,
        })
    }

    /// Parses `data`, returning the batches it completed.
    pub fn feed(&mut self, data: &[u8]) -> Result<Vec<RecordBatch>> {
        self.check_open()?;
        let mut out = Vec::new();
        let parser = &mut self.parser;
        let result = self
            .input
            .push(data, &mut |bytes| parser.push(bytes, &mut out));
        self.poison_on_error(result)?;
        Ok(out)
    }

    /// Ends the current page: its last record is completed and the next bytes start a new
    /// page (with its own header row, gzip header and byte-order mark). Returns batches
    /// completed on the way; a partial batch keeps filling across pages.
    pub fn end_page(&mut self) -> Result<Vec<RecordBatch>> {
        self.check_open()?;
        let mut out = Vec::new();
        let result = self.end_page_into(&mut out);
        self.poison_on_error(result)?;
        Ok(out)
    }

    fn end_page_into(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        let parser = &mut self.parser;
        self.input.end_page(&mut |bytes| parser.push(bytes, out))?;
        parser.end_page(out)
    }

    /// Ends the stream, returning the last batches.
    pub fn finish(&mut self) -> Result<Vec<RecordBatch>> {
        self.check_open()?;
        let mut out = Vec::new();
        let result = self.end_page_into(&mut out).and_then(|_| {
            if self.parser.batch_rows > 0 {
                out.push(self.parser.flush()?);
            }
            Ok(())
        });
        self.finished = true;
        result?;
        Ok(out)
    }

    fn check_open(&self) -> Result<()> {
        if self.finished {
            return Err(EngineError::new(
                ErrorKind::Invalid,
                "this decoder is finished (or failed); create a new one for another stream",
            ));
        }
        Ok(())
    }

    fn poison_on_error<T>(&mut self, r: Result<T>) -> Result<T> {
        if r.is_err() {
            // The parse state is undefined after an error: refuse further input.
            self.finished = true;
        }
        r
    }

    /// The schema, once the header has been read (or columns were given).
    pub fn schema(&self) -> Option<SchemaRef> {
        self.parser.schema.clone()
    }

    /// The schema even before any byte arrived, when the column list is known.
    pub fn schema_or_declared(&self) -> Option<SchemaRef> {
        if let Some(s) = &self.parser.schema {
            return Some(s.clone());
        }
        let cols = self.parser.opts.columns.clone()?;
        Some(arrow_schema(&cols, &self.parser.opts.types))
    }

    /// Data rows emitted in batches so far.
    pub fn rows(&self) -> u64 {
        self.parser.rows_done
    }

    /// Values turned into nulls under `OnError::Null`.
    pub fn nulled(&self) -> u64 {
        self.parser.nulled
    }

    /// Decompressed bytes parsed so far.
    pub fn bytes_consumed(&self) -> u64 {
        self.parser.consumed
    }

    /// Pages completed so far.
    pub fn pages(&self) -> u64 {
        self.parser.pages
    }
}

impl Parser {
    fn set_columns(&mut self, cols: Vec<String>) {
        self.col_types = cols.iter().map(|c| self.opts.types.get(c)).collect();
        self.schema = Some(arrow_schema(&cols, &self.opts.types));
        self.header = Some(cols);
    }

    fn ncols(&self) -> usize {
        self.col_types.len()
    }

    /// Entry point for CSV bytes: strips byte-order marks at the start of a page.
    fn push(&mut self, mut bytes: &[u8], out: &mut Vec<RecordBatch>) -> Result<()> {
        while self.bom_check && !bytes.is_empty() {
            let take = (BOM.len() - self.bom_held.len()).min(bytes.len());
            self.bom_held.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.bom_held.len() < BOM.len() && BOM.starts_with(&self.bom_held) {
                return Ok(());
            }
            self.release_bom_held(out)?;
        }
        self.parse(bytes, out)
    }

    fn release_bom_held(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        let held = std::mem::take(&mut self.bom_held);
        if held == BOM {
            // Keep looking: csv-core strips a mark at the start of its input by itself, but
            // only when it arrives whole, so a second one must never reach it.
            self.consumed += BOM.len() as u64;
            self.rec_offset = self.consumed;
            Ok(())
        } else {
            self.bom_check = false;
            self.parse(&held, out)
        }
    }

    fn ensure_space(&mut self) {
        if self.buf.len() - self.used < 4096 {
            let want = (self.buf.len() * 2)
                .max(self.next_capacity)
                .max(self.used + 65_536);
            if self.buf.is_empty() {
                // A zeroed allocation lets the allocator hand out fresh pages without a memset.
                self.buf = vec![0u8; want];
            } else {
                self.buf.resize(want, 0);
            }
        }
    }

    fn parse(&mut self, mut input: &[u8], out: &mut Vec<RecordBatch>) -> Result<()> {
        while !input.is_empty() {
            self.ensure_space();
            let (res, nin, nout, nend) = self.reader.read_record(
                input,
                &mut self.buf[self.used..],
                &mut self.rec_ends[self.rec_nfields..],
            );
            input = &input[nin..];
            self.consumed += nin as u64;
            self.used += nout;
            self.rec_nfields += nend;
            match res {
                ReadRecordResult::InputEmpty | ReadRecordResult::End => {}
                ReadRecordResult::OutputFull => {
                    let grow = self.buf.len().max(65_536);
                    self.buf.resize(self.buf.len() + grow, 0);
                }
                ReadRecordResult::OutputEndsFull => {
                    let n = self.rec_ends.len();
                    self.rec_ends.resize(n * 2, 0);
                }
                ReadRecordResult::Record => self.on_record(out)?,
            }
        }
        Ok(())
    }

    /// Completes the page's last record, detecting an unterminated quote.
    fn end_page(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        if self.bom_check {
            self.release_bom_held(out)?;
        }
        if self.consumed > self.rec_offset || self.rec_nfields > 0 || self.used > self.rec_start {
            // A newline completes any record that is not inside quotes; inside quotes it
            // becomes field data, which is how an unterminated quote shows.
            self.ensure_space();
            let (res, _, nout, nend) = self.reader.read_record(
                b"\n",
                &mut self.buf[self.used..],
                &mut self.rec_ends[self.rec_nfields..],
            );
            self.used += nout;
            self.rec_nfields += nend;
            match res {
                ReadRecordResult::Record => self.on_record(out)?,
                _ if nout > 0 => {
                    return Err(EngineError::new(
                        ErrorKind::CsvFormat,
                        format!(
                            "row {}: a quoted value opened at or after byte offset {} is never \
                             closed before the end of the stream. The body was probably cut \
                             short: fetch it again",
                            self.next_row_number(),
                            self.rec_offset
                        ),
                    )
                    .at(self.next_row_number(), self.rec_offset));
                }
                _ => {}
            }
        }
        // Drain the reader's end state, then reset it for the next page.
        loop {
            self.ensure_space();
            let (res, _, nout, nend) = self.reader.read_record(
                b"",
                &mut self.buf[self.used..],
                &mut self.rec_ends[self.rec_nfields..],
            );
            self.used += nout;
            self.rec_nfields += nend;
            match res {
                ReadRecordResult::Record => self.on_record(out)?,
                ReadRecordResult::OutputEndsFull => {
                    let n = self.rec_ends.len();
                    self.rec_ends.resize(n * 2, 0);
                }
                _ => break,
            }
        }
        self.reader.reset();
        self.rec_nfields = 0;
        self.used = self.rec_start;
        self.rec_offset = self.consumed;
        self.bom_check = true;
        self.expect_header = self.opts.has_header;
        self.pages += 1;
        Ok(())
    }

    fn next_row_number(&self) -> u64 {
        self.rows_done + self.batch_rows as u64 + 1
    }

    fn field(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.rec_ends[i - 1] };
        &self.buf[self.rec_start + start..self.rec_start + self.rec_ends[i]]
    }

    fn on_record(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        let nfields = self.rec_nfields;
        let offset = self.rec_offset;
        self.rec_nfields = 0;
        self.rec_offset = self.consumed;
        if self.expect_header {
            self.expect_header = false;
            let result = self.take_header(nfields, offset);
            self.used = self.rec_start;
            return result;
        }
        let ncols = self.ncols();
        if nfields != ncols {
            let row = self.next_row_number();
            return Err(EngineError::new(
                ErrorKind::CsvFormat,
                format!(
                    "row {row}: expected {ncols} fields but found {nfields} (byte offset \
                     {offset}). Check that the delimiter and line ending match the job's \
                     columnDelimiter and lineEnding, and that the body is complete"
                ),
            )
            .at(row, offset));
        }
        if self.is_repeated_header(nfields) {
            self.used = self.rec_start;
            return Ok(());
        }
        for i in 0..nfields {
            let end = self.rec_start + self.rec_ends[i];
            self.bounds.push(end as u32);
        }
        self.row_offsets.push(offset);
        self.batch_rows += 1;
        self.rec_start = self.used;
        if self.batch_rows >= self.opts.batch_size || self.used >= MAX_BATCH_BYTES {
            out.push(self.flush()?);
        }
        Ok(())
    }

    fn is_repeated_header(&self, nfields: usize) -> bool {
        let Some(header) = &self.header else {
            return false;
        };
        if !self.opts.has_header || !self.opts.skip_repeated_headers || header.len() != nfields {
            return false;
        }
        header
            .iter()
            .enumerate()
            .all(|(i, name)| self.header_field_is(i, name.as_bytes()))
    }

    /// Whether field `i` of the current record spells the column `name`. Pages joined into
    /// one stream may each start with a byte-order mark; mid-stream it reaches csv-core as
    /// the start of an unquoted first field that keeps the quotes after it as data.
    fn header_field_is(&self, i: usize, name: &[u8]) -> bool {
        let field = self.field(i);
        if field == name {
            return true;
        }
        let Some(rest) = field.strip_prefix(BOM).filter(|_| i == 0) else {
            return false;
        };
        match rest.strip_prefix(b"\"").and_then(|r| r.strip_suffix(b"\"")) {
            Some(quoted) => quoted.len() >= name.len() && unquote(quoted) == name,
            None => rest == name,
        }
    }

    fn take_header(&mut self, nfields: usize, offset: u64) -> Result<()> {
        let mut names = Vec::with_capacity(nfields);
        for i in 0..nfields {
            let raw: Vec<u8> = self.field(i).iter().copied().filter(|&b| b != 0).collect();
            let raw = raw.strip_prefix(BOM).unwrap_or(&raw).to_vec();
            let name = String::from_utf8(raw).map_err(|_| {
                EngineError::new(
                    ErrorKind::Utf8,
                    format!(
                        "the header row has a column name that is not valid UTF-8 (byte offset \
                         {offset}); Bulk API results are UTF-8: check the body was not \
                         re-encoded"
                    ),
                )
                .at(0, offset)
            })?;
            names.push(name);
        }
        if let Some(known) = &self.header {
            if *known != names {
                return Err(EngineError::new(
                    ErrorKind::CsvFormat,
                    format!(
                        "the header row at byte offset {offset} has columns {names:?}, but the \
                         stream's columns are {known:?}. Pages of one result share one header; \
                         decode results of different queries with separate decoders"
                    ),
                )
                .at(0, offset));
            }
            return Ok(());
        }
        if let Some(expected) = &self.opts.columns {
            if *expected != names {
                return Err(EngineError::new(
                    ErrorKind::CsvFormat,
                    format!(
                        "the header row has columns {names:?}, but columns={expected:?} was \
                         given. Pass the columns in the query's SELECT order"
                    ),
                )
                .at(0, offset));
            }
        }
        if let Some(name) = repeated_column(&names) {
            return Err(EngineError::new(
                ErrorKind::CsvFormat,
                format!(
                    "the header row (byte offset {offset}) names the column {name:?} more than \
                     once; a result's columns must be unique. Check that the delimiter matches \
                     the job's columnDelimiter"
                ),
            )
            .at(0, offset));
        }
        self.set_columns(names);
        Ok(())
    }

    /// Turns the complete rows gathered so far into a record batch.
    fn flush(&mut self) -> Result<RecordBatch> {
        let nrows = self.batch_rows;
        let ncols = self.ncols();
        let mut buf = std::mem::take(&mut self.buf);
        // Any bytes past the last complete row belong to the next record: carry them over.
        let carry = buf[self.rec_start..self.used].to_vec();
        buf.truncate(self.rec_start);
        let mut next_bounds = Vec::with_capacity(self.opts.batch_size.min(1 << 20) * ncols + 1);
        next_bounds.push(0);
        let mut bounds = std::mem::replace(&mut self.bounds, next_bounds);
        let row_offsets = std::mem::replace(
            &mut self.row_offsets,
            Vec::with_capacity(self.opts.batch_size.min(1 << 20)),
        );
        self.next_capacity = buf.len() + buf.len() / 8 + 4096;
        self.used = 0;
        self.rec_start = 0;
        if !carry.is_empty() {
            self.ensure_space();
            self.buf[..carry.len()].copy_from_slice(&carry);
            self.used = carry.len();
        }
        self.batch_rows = 0;
        let first_row = self.rows_done + 1;
        self.rows_done += nrows as u64;

        if memchr::memchr(0, &buf).is_some() {
            strip_nuls(&mut buf, &mut bounds);
        }
        let all_utf8 = buf.is_ascii()
            || (simdutf8::basic::from_utf8(&buf).is_ok()
                && bounds
                    .iter()
                    .all(|&b| buf.get(b as usize).is_none_or(|&x| (x as i8) >= -0x40)));
        let shared = Buffer::from_vec(buf);
        let fields = BatchFields {
            buf: shared.as_slice(),
            bounds: &bounds,
            ncols,
            nrows,
            row_offsets: &row_offsets,
            first_row,
            all_utf8,
            na_as_null: self.opts.na_as_null,
        };
        let header = self.header.as_ref().expect("rows imply a header");
        if let Some(spec) = &self.opts.digest {
            if !all_utf8 {
                return Err(EngineError::new(
                    ErrorKind::Utf8,
                    format!(
                        "rows {first_row} to {}: some value is not valid UTF-8",
                        first_row + nrows as u64 - 1
                    ),
                ));
            }
            return digest_fields(spec, header, &fields);
        }
        let schema = self.schema.clone().expect("rows imply a header");
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(ncols);
        for (c, (name, ty)) in header.iter().zip(&self.col_types).enumerate() {
            columns.push(build_column(
                &fields,
                &shared,
                c,
                name,
                *ty,
                self.opts.on_error,
                &mut self.nulled,
            )?);
        }
        let options = RecordBatchOptions::new().with_row_count(Some(nrows));
        Ok(RecordBatch::try_new_with_options(
            schema, columns, &options,
        )?)
    }
}

/// The text of a quoted field as written between its quotes (`\"\"` is one quote).
fn unquote(quoted: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(quoted.len());
    let mut i = 0;
    while i < quoted.len() {
        out.push(quoted[i]);
        i += if quoted[i] == b'"' && quoted.get(i + 1) == Some(&b'"') {
            2
        } else {
            1
        };
    }
    out
}

/// Removes NUL bytes (stray in some exports; never meaningful) from every field.
fn strip_nuls(buf: &mut Vec<u8>, bounds: &mut [u32]) {
    let mut write = 0usize;
    let mut read = 0usize;
    for b in bounds.iter_mut().skip(1) {
        let end = *b as usize;
        while read < end {
            let byte = buf[read];
            if byte != 0 {
                buf[write] = byte;
                write += 1;
            }
            read += 1;
        }
        *b = write as u32;
    }
    buf.truncate(write);
}
