//! A received Bulk API 2.0 ingest upload, for the devorg's insert jobs.
//!
//! The upload is read once and kept as its bytes plus the span of every cell, so a million
//! rows cost no per-value objects until they are bound into SQLite. Cell values are checked
//! column by column against simple rules (text within a length and an allowed set, canonical
//! integers and decimals, booleans); a row any rule cannot vouch for is left to the caller's
//! general path, which owns the error messages. The three result files are written from the
//! spans.
//!
//! Only plainly formed CSV is taken: a quote inside an unquoted cell, text after a closing
//! quote, a bare carriage return, a NUL byte, bad UTF-8, a header line ending that does not
//! match the job, or a very long cell make `read` refuse the upload, and the caller reads it
//! with its general reader instead (which also words the errors). This parser does not share
//! code with the client's decoder or batch builder, so a bug on one side is not mirrored on
//! the other.
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Cells longer than this many bytes are refused (Python's csv module stops at 131,072
/// characters by default; the general reader reports those).
const FIELD_LIMIT: usize = 131_072;
/// The cell text that sets a field to null.
pub const NULL_MARKER: &[u8] = b"#N/A";
/// Significant digits a decimal may have and still round-trip exactly through a double.
const EXACT_DIGITS: usize = 15;

/// Why an upload was not taken; the caller reads it the general way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused(pub &'static str);

#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    end: u32,
    /// Quoted, with doubled quotes inside: the text needs unescaping.
    escaped: bool,
}

/// How the cells of one column are checked.
#[derive(Clone, Debug)]
pub enum Rule {
    /// Kept as given when within `max_chars` characters (and among `allowed`, if given).
    Text {
        max_chars: usize,
        allowed: Option<HashSet<String>>,
    },
    /// `-?[0-9]+` within the 32-bit range.
    Int,
    /// `-?[0-9]+(.[0-9]+)?`; with a precision, 15 significant digits at most (so the text
    /// is exactly the double's shortest form), rounded half up to `scale` decimals and below
    /// `10^(precision - scale)`.
    Double { precision: Option<u32>, scale: u32 },
    /// `true`, `false`, `1`, `0`, `yes` or `no`, in any case.
    Boolean,
    /// Any non-empty cell sends the row to the general path.
    Defer,
}

/// One column's rule, and whether a value must be present.
#[derive(Clone, Debug)]
pub struct ColumnSpec {
    pub rule: Rule,
    pub required: bool,
}

/// A checked cell, ready to be stored.
#[derive(Debug, PartialEq)]
pub enum Value<'a> {
    /// Empty cell: the field is left unset (its default applies).
    Absent,
    /// `#N/A`: the field is set to null.
    Null,
    Text(std::borrow::Cow<'a, str>),
    Int(i64),
    Float(f64),
}

#[derive(Clone, Debug)]
enum Outcome {
    Pending,
    Success { id: String, created: bool },
    Failure { id: String, error: String },
}

/// An upload held as spans of its bytes, with each row's outcome.
pub struct IngestTable {
    data: Vec<u8>,
    delimiter: u8,
    crlf: bool,
    header_line: String,
    columns: Vec<String>,
    /// Row `r`'s cells are `cells[row_cells[r]..row_cells[r + 1]]`.
    row_cells: Vec<u32>,
    cells: Vec<Span>,
    specs: Vec<ColumnSpec>,
    fast: Vec<bool>,
    outcomes: Vec<Outcome>,
}

/// Counts of the result files written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub successes: usize,
    pub failures: usize,
    pub unprocessed: usize,
}

impl IngestTable {
    /// Reads an upload file; see `parse`.
    pub fn read(path: &Path, delimiter: u8, crlf: bool) -> io::Result<Result<Self, Refused>> {
        let data = if path.exists() {
            fs::read(path)?
        } else {
            Vec::new()
        };
        Ok(Self::parse(data, delimiter, crlf))
    }

    /// Parses upload bytes (an optional BOM, a header line, data rows); blank lines are
    /// skipped. Refuses anything but plainly formed CSV.
    pub fn parse(mut data: Vec<u8>, delimiter: u8, crlf: bool) -> Result<Self, Refused> {
        if data.starts_with(BOM) {
            data.drain(..BOM.len());
        }
        if u32::try_from(data.len()).is_err() {
            return Err(Refused("upload too large to index"));
        }
        if simdutf8::basic::from_utf8(&data).is_err() {
            return Err(Refused("not UTF-8"));
        }
        if memchr::memchr(0, &data).is_some() {
            return Err(Refused("NUL byte"));
        }
        let newline = memchr::memchr(b'\n', &data);
        let raw_header = &data[..newline.unwrap_or(data.len())];
        let has_cr = raw_header.ends_with(b"\r");
        if newline.is_some() && has_cr != crlf {
            return Err(Refused("line ending does not match the job"));
        }
        let header_line = raw_header.strip_suffix(b"\r").unwrap_or(raw_header);
        let header_line = String::from_utf8(header_line.to_vec()).expect("checked UTF-8");

        let mut row_cells = vec![0u32];
        let mut cells = Vec::new();
        let mut pos = 0usize;
        let mut first = true;
        while pos < data.len() {
            if let Some(next) = skip_blank_line(&data, pos) {
                if first {
                    return Err(Refused("blank header line"));
                }
                pos = next;
                continue;
            }
            pos = parse_record(&data, pos, delimiter, &mut cells)?;
            row_cells.push(cells.len() as u32);
            first = false;
        }
        if row_cells.len() < 2 {
            return Err(Refused("no header"));
        }
        let columns = (0..row_cells[1] as usize)
            .map(|c| String::from_utf8(cell_text(&data, cells[c]).into_owned()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Refused("not UTF-8"))?;
        // Row 0 (the header) stays in `cells`; data rows are numbered from 0 below.
        let rows = row_cells.len() - 2;
        Ok(IngestTable {
            data,
            delimiter,
            crlf,
            header_line,
            columns,
            row_cells,
            cells,
            specs: Vec::new(),
            fast: Vec::new(),
            outcomes: vec![Outcome::Pending; rows],
        })
    }

    /// The header line exactly as sent (no line ending, BOM removed).
    pub fn header_line(&self) -> &str {
        &self.header_line
    }

    /// The header's cells.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// Data rows (blank lines not counted).
    pub fn len(&self) -> usize {
        self.row_cells.len() - 2
    }

    /// True when the upload has a header and no data rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn spans(&self, row: usize) -> &[Span] {
        let (a, b) = (self.row_cells[row + 1], self.row_cells[row + 2]);
        &self.cells[a as usize..b as usize]
    }

    /// The cells of data row `row`, unescaped.
    pub fn row(&self, row: usize) -> Vec<String> {
        self.spans(row)
            .iter()
            .map(|&s| {
                String::from_utf8(cell_text(&self.data, s).into_owned()).expect("checked UTF-8")
            })
            .collect()
    }

    /// Checks every row against one spec per column; rows that pass are "fast".
    pub fn prepare(&mut self, specs: Vec<ColumnSpec>) {
        self.specs = specs;
        self.fast = (0..self.len()).map(|r| self.check_row(r)).collect();
    }

    fn check_row(&self, row: usize) -> bool {
        let spans = self.spans(row);
        spans.len() == self.specs.len()
            && spans
                .iter()
                .zip(&self.specs)
                .all(|(&span, spec)| check_cell(&cell_text(&self.data, span), spec).is_some())
    }

    /// Whether row `row` passed `prepare`'s checks.
    pub fn is_fast(&self, row: usize) -> bool {
        self.fast.get(row).copied().unwrap_or(false)
    }

    /// Fast rows in `[start, stop)`.
    pub fn fast_count(&self, start: usize, stop: usize) -> usize {
        let stop = stop.min(self.fast.len());
        self.fast[start.min(stop)..stop]
            .iter()
            .filter(|&&f| f)
            .count()
    }

    /// The checked value of column `column` of a fast row.
    pub fn value(&self, row: usize, column: usize) -> Value<'_> {
        let text = cell_text(&self.data, self.spans(row)[column]);
        check_cell(&text, &self.specs[column])
            .expect("value() is only asked of fast rows")
            .into_value(text)
    }

    /// Records row `row`'s success.
    pub fn set_success(&mut self, row: usize, id: String, created: bool) {
        self.outcomes[row] = Outcome::Success { id, created };
    }

    /// Records row `row`'s failure.
    pub fn set_failure(&mut self, row: usize, id: String, error: String) {
        self.outcomes[row] = Outcome::Failure { id, error };
    }

    /// Writes the `successful`, `failed` and `unprocessed` result sets under `folder`
    /// (each a `header.csv`, `rows.csv` and `offsets.bin`, as the devorg serves them).
    /// Successes and failures come in an order shuffled by `seed`; rows without an outcome
    /// are unprocessed, in input order.
    pub fn write_results(&self, folder: &Path, seed: u64) -> io::Result<Written> {
        let mut successes = Vec::new();
        let mut failures = Vec::new();
        let mut unprocessed = Vec::new();
        for (row, outcome) in self.outcomes.iter().enumerate() {
            match outcome {
                Outcome::Pending => unprocessed.push(row),
                Outcome::Success { .. } => successes.push(row),
                Outcome::Failure { .. } => failures.push(row),
            }
        }
        let mut rng = SplitMix64(seed);
        let successes = shuffled(successes, &mut rng);
        let failures = shuffled(failures, &mut rng);
        let d = self.delimiter as char;
        let newline: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        let echoed = |head: String| -> Vec<u8> {
            let mut line = head.into_bytes();
            if !self.header_line.is_empty() {
                line.push(self.delimiter);
                line.extend_from_slice(self.header_line.as_bytes());
            }
            line.extend_from_slice(newline);
            line
        };
        self.write_set(
            &folder.join("successful"),
            &echoed(format!("\"sf__Id\"{d}\"sf__Created\"")),
            &successes,
            |row, out| match &self.outcomes[row] {
                Outcome::Success { id, created } => {
                    quoted(out, id.as_bytes());
                    out.push(self.delimiter);
                    quoted(out, if *created { b"true" } else { b"false" });
                    out.push(self.delimiter);
                }
                _ => unreachable!("listed as a success"),
            },
        )?;
        self.write_set(
            &folder.join("failed"),
            &echoed(format!("\"sf__Id\"{d}\"sf__Error\"")),
            &failures,
            |row, out| match &self.outcomes[row] {
                Outcome::Failure { id, error } => {
                    quoted(out, id.as_bytes());
                    out.push(self.delimiter);
                    quoted(out, error.as_bytes());
                    out.push(self.delimiter);
                }
                _ => unreachable!("listed as a failure"),
            },
        )?;
        let unprocessed_header = if self.header_line.is_empty() {
            Vec::new()
        } else {
            let mut line = self.header_line.as_bytes().to_vec();
            line.extend_from_slice(newline);
            line
        };
        self.write_set(
            &folder.join("unprocessed"),
            &unprocessed_header,
            &unprocessed,
            |_, _| {},
        )?;
        Ok(Written {
            successes: successes.len(),
            failures: failures.len(),
            unprocessed: unprocessed.len(),
        })
    }

    /// One result set: `lead` writes the leading cells (and their delimiter) of a row, then
    /// the row's own cells follow, every cell quoted.
    fn write_set(
        &self,
        directory: &Path,
        header: &[u8],
        rows: &[usize],
        lead: impl Fn(usize, &mut Vec<u8>),
    ) -> io::Result<()> {
        const FLUSH_BYTES: usize = 1 << 20;
        fs::create_dir_all(directory)?;
        fs::write(directory.join("header.csv"), header)?;
        let newline: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        let mut file = File::create(directory.join("rows.csv"))?;
        let mut offsets = Vec::with_capacity((rows.len() + 1) * 8);
        let mut flushed = 0i64;
        offsets.extend_from_slice(&flushed.to_ne_bytes());
        let mut out = Vec::with_capacity(FLUSH_BYTES + 4096);
        for &row in rows {
            lead(row, &mut out);
            for (i, span) in self.spans(row).iter().enumerate() {
                if i > 0 {
                    out.push(self.delimiter);
                }
                // Cells were refused if unquoted with a quote inside, and quoted cells keep
                // their doubled quotes: the span between the quotes is already escaped.
                out.push(b'"');
                out.extend_from_slice(&self.data[span.start as usize..span.end as usize]);
                out.push(b'"');
            }
            out.extend_from_slice(newline);
            offsets.extend_from_slice(&(flushed + out.len() as i64).to_ne_bytes());
            if out.len() >= FLUSH_BYTES {
                file.write_all(&out)?;
                flushed += out.len() as i64;
                out.clear();
            }
        }
        file.write_all(&out)?;
        fs::write(directory.join("offsets.bin"), offsets)?;
        Ok(())
    }
}

/// The position after a blank line starting at `pos`, if the line is blank.
fn skip_blank_line(data: &[u8], pos: usize) -> Option<usize> {
    match data[pos] {
        b'\n' => Some(pos + 1),
        b'\r' if data.get(pos + 1) == Some(&b'\n') => Some(pos + 2),
        _ => None,
    }
}

/// Parses one record starting at `pos`; returns the position after its line ending.
fn parse_record(
    data: &[u8],
    mut pos: usize,
    delimiter: u8,
    cells: &mut Vec<Span>,
) -> Result<usize, Refused> {
    let n = data.len();
    loop {
        let span = if pos < n && data[pos] == b'"' {
            let start = pos + 1;
            let mut at = start;
            let mut escaped = false;
            let end = loop {
                let Some(k) = memchr::memchr(b'"', &data[at..]) else {
                    return Err(Refused("unterminated quote"));
                };
                let quote = at + k;
                if data.get(quote + 1) == Some(&b'"') {
                    escaped = true;
                    at = quote + 2;
                } else {
                    break quote;
                }
            };
            pos = end + 1;
            Span {
                start: start as u32,
                end: end as u32,
                escaped,
            }
        } else {
            let start = pos;
            while pos < n {
                let b = data[pos];
                if b == delimiter || b == b'\n' || b == b'\r' {
                    break;
                }
                if b == b'"' {
                    return Err(Refused("quote inside an unquoted cell"));
                }
                pos += 1;
            }
            Span {
                start: start as u32,
                end: pos as u32,
                escaped: false,
            }
        };
        if (span.end - span.start) as usize > FIELD_LIMIT {
            return Err(Refused("very long cell"));
        }
        cells.push(span);
        if pos == n {
            return Ok(pos);
        }
        match data[pos] {
            b if b == delimiter => pos += 1,
            b'\n' => return Ok(pos + 1),
            b'\r' if data.get(pos + 1) == Some(&b'\n') => return Ok(pos + 2),
            b'\r' => return Err(Refused("bare carriage return")),
            _ => return Err(Refused("text after a closing quote")),
        }
    }
}

fn cell_text(data: &[u8], span: Span) -> std::borrow::Cow<'_, [u8]> {
    let raw = &data[span.start as usize..span.end as usize];
    if !span.escaped {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        out.push(raw[i]);
        // Inside a quoted cell every quote is doubled: keep one of the pair.
        i += if raw[i] == b'"' { 2 } else { 1 };
    }
    std::borrow::Cow::Owned(out)
}

fn quoted(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    quote_into(text, out);
    out.push(b'"');
}

/// `text` with every `"` doubled.
pub(crate) fn quote_into(text: &[u8], out: &mut Vec<u8>) {
    let mut rest = text;
    while let Some(at) = memchr::memchr(b'"', rest) {
        out.extend_from_slice(&rest[..=at]);
        out.push(b'"');
        rest = &rest[at + 1..];
    }
    out.extend_from_slice(rest);
}

/// What a cell checks to, without its text (`Text` borrows it later).
enum Checked {
    Absent,
    Null,
    Text,
    Int(i64),
    Float(f64),
}

impl Checked {
    fn into_value(self, text: std::borrow::Cow<'_, [u8]>) -> Value<'_> {
        match self {
            Checked::Absent => Value::Absent,
            Checked::Null => Value::Null,
            Checked::Int(v) => Value::Int(v),
            Checked::Float(v) => Value::Float(v),
            Checked::Text => Value::Text(match text {
                std::borrow::Cow::Borrowed(b) => {
                    std::borrow::Cow::Borrowed(std::str::from_utf8(b).expect("checked UTF-8"))
                }
                std::borrow::Cow::Owned(b) => {
                    std::borrow::Cow::Owned(String::from_utf8(b).expect("checked UTF-8"))
                }
            }),
        }
    }
}

/// A cell's checked value, or None when the general path must decide.
fn check_cell(text: &[u8], spec: &ColumnSpec) -> Option<Checked> {
    if text.is_empty() || text == NULL_MARKER {
        if spec.required || matches!(spec.rule, Rule::Defer) && !text.is_empty() {
            return None;
        }
        return Some(if text.is_empty() {
            Checked::Absent
        } else {
            Checked::Null
        });
    }
    match &spec.rule {
        Rule::Defer => None,
        Rule::Text { max_chars, allowed } => {
            let text = std::str::from_utf8(text).ok()?;
            let fits = text.len() <= *max_chars || text.chars().count() <= *max_chars;
            let allowed = allowed.as_ref().is_none_or(|set| set.contains(text));
            (fits && allowed).then_some(Checked::Text)
        }
        Rule::Int => {
            let digits = text.strip_prefix(b"-").unwrap_or(text);
            if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let value: i64 = std::str::from_utf8(text).ok()?.parse().ok()?;
            (value.abs() <= i64::from(i32::MAX)).then_some(Checked::Int(value))
        }
        Rule::Double { precision, scale } => {
            let unsigned = text.strip_prefix(b"-").unwrap_or(text);
            let (whole, fraction) = match memchr::memchr(b'.', unsigned) {
                Some(dot) => (&unsigned[..dot], Some(&unsigned[dot + 1..])),
                None => (unsigned, None),
            };
            let digits_ok = |part: &[u8]| !part.is_empty() && part.iter().all(u8::is_ascii_digit);
            if !digits_ok(whole) || !fraction.is_none_or(digits_ok) {
                return None;
            }
            let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
            if !value.is_finite() {
                return None;
            }
            let Some(precision) = *precision else {
                return Some(Checked::Float(value));
            };
            let decimals = fraction.map_or(0, <[u8]>::len);
            let significant = whole.iter().skip_while(|&&b| b == b'0').count() + decimals;
            let limit = 10f64.powi(precision.saturating_sub(*scale) as i32);
            if significant > EXACT_DIGITS || value.abs() >= limit {
                return None;
            }
            let value = if decimals > *scale as usize {
                // Salesforce keeps `scale` decimals, rounding half up (away from zero).
                let negative = text.len() != unsigned.len();
                round_half_up(negative, whole, fraction.unwrap_or(b""), *scale as usize)?
            } else {
                value
            };
            (value.abs() < limit).then_some(Checked::Float(value))
        }
        Rule::Boolean => match text.to_ascii_lowercase().as_slice() {
            b"true" | b"1" | b"yes" => Some(Checked::Int(1)),
            b"false" | b"0" | b"no" => Some(Checked::Int(0)),
            _ => None,
        },
    }
}

/// `whole.fraction` (plain digits) rounded half up to `scale` decimals, as a double.
fn round_half_up(negative: bool, whole: &[u8], fraction: &[u8], scale: usize) -> Option<f64> {
    let mut digits: Vec<u8> = whole.iter().chain(&fraction[..scale]).copied().collect();
    if fraction[scale] >= b'5' {
        let mut at = digits.len();
        loop {
            if at == 0 {
                digits.insert(0, b'1');
                break;
            }
            at -= 1;
            if digits[at] == b'9' {
                digits[at] = b'0';
            } else {
                digits[at] += 1;
                break;
            }
        }
    }
    let point = digits.len() - scale;
    let mut text = String::with_capacity(digits.len() + 2);
    if negative {
        text.push('-');
    }
    text.push_str(std::str::from_utf8(&digits[..point]).ok()?);
    if scale > 0 {
        text.push('.');
        text.push_str(std::str::from_utf8(&digits[point..]).ok()?);
    }
    text.parse().ok()
}

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CHECKSUM: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

/// The 18-character record Id `head` (6 characters: key prefix, pod, `0`) followed by
/// `sequence` in 9 base-62 digits and Salesforce's 3-character case checksum; None when
/// `head` is not 6 ASCII characters or `sequence` needs more than 9 digits.
pub fn record_id(head: &str, sequence: u64) -> Option<String> {
    if head.len() != 6 || !head.is_ascii() || sequence >= 62u64.pow(9) {
        return None;
    }
    let mut id = [0u8; 18];
    id[..6].copy_from_slice(head.as_bytes());
    let mut n = sequence;
    for slot in id[6..15].iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    for chunk in 0..3 {
        // Bit i of a 5-character chunk is set where character i is an upper-case letter.
        let bits = (0..5).fold(0usize, |acc, i| {
            acc | (usize::from(id[chunk * 5 + i].is_ascii_uppercase()) << i)
        });
        id[15 + chunk] = CHECKSUM[bits];
    }
    Some(String::from_utf8(id.to_vec()).expect("ASCII"))
}

/// A small seeded generator for the result order (not for anything secret).
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `items` in a random order that keeps reads local: blocks of neighbouring items come in a
/// shuffled order, each block shuffled within itself. Every neighbour pair is still likely
/// to be split, and a million rows are written without a cache miss per row.
fn shuffled(mut items: Vec<usize>, rng: &mut SplitMix64) -> Vec<usize> {
    const BLOCK: usize = 1024;
    let mut blocks: Vec<&mut [usize]> = items.chunks_mut(BLOCK).collect();
    for block in blocks.iter_mut() {
        shuffle(block, rng);
    }
    shuffle(&mut blocks, rng);
    blocks.concat()
}

fn shuffle<T>(items: &mut [T], rng: &mut SplitMix64) {
    for i in (1..items.len()).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        items.swap(i, j);
    }
}
