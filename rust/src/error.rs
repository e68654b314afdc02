//! The engine's error type: what went wrong and where in the stream.
use std::fmt;

/// Which family an error belongs to; the Python layer maps each to an exception class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed CSV: wrong field count, unterminated quote, header mismatch.
    CsvFormat,
    /// A value that does not fit its declared Salesforce type.
    TypeConversion,
    /// Bytes that are not valid UTF-8.
    Utf8,
    /// A corrupt or truncated gzip body.
    Gzip,
    /// Data the batch builder cannot express as Bulk CSV, or a bad option.
    Invalid,
    /// File system or Parquet writer failures.
    Io,
}

/// An engine error with its position: `row` is the 1-based data row (the header is row 0),
/// `column` the column name, `byte_offset` the offset in the decompressed stream of the
/// start of the offending row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineError {
    pub kind: ErrorKind,
    pub message: String,
    pub row: Option<u64>,
    pub column: Option<String>,
    pub byte_offset: Option<u64>,
}

impl EngineError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        EngineError {
            kind,
            message: message.into(),
            row: None,
            column: None,
            byte_offset: None,
        }
    }

    pub fn at(mut self, row: u64, byte_offset: u64) -> Self {
        self.row = Some(row);
        self.byte_offset = Some(byte_offset);
        self
    }

    pub fn in_column(mut self, column: &str) -> Self {
        self.column = Some(column.to_string());
        self
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EngineError {}

impl From<std::io::Error> for EngineError {
    fn from(e: std::io::Error) -> Self {
        EngineError::new(ErrorKind::Io, e.to_string())
    }
}

impl From<parquet::errors::ParquetError> for EngineError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        EngineError::new(ErrorKind::Io, format!("Parquet writer failed: {e}"))
    }
}

impl From<arrow_schema::ArrowError> for EngineError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        EngineError::new(ErrorKind::Invalid, format!("Arrow error: {e}"))
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;
