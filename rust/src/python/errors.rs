//! The `EngineError` exception family, carrying `row`, `column` and `byte_offset`.
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;

use crate::error::{EngineError as RustError, ErrorKind};

create_exception!(
    _engine,
    EngineError,
    PyValueError,
    "Base class of the engine's errors; carries `row`, `column` and `byte_offset`."
);
create_exception!(
    _engine,
    CsvFormatError,
    EngineError,
    "Malformed CSV: wrong field count, unterminated quote, header mismatch."
);
create_exception!(
    _engine,
    TypeConversionError,
    EngineError,
    "A value does not fit the Salesforce type declared for its column."
);
create_exception!(
    _engine,
    Utf8Error,
    EngineError,
    "Bytes that are not valid UTF-8."
);
create_exception!(
    _engine,
    GzipError,
    EngineError,
    "A corrupt or truncated gzip body."
);

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("EngineError", py.get_type::<EngineError>())?;
    m.add("CsvFormatError", py.get_type::<CsvFormatError>())?;
    m.add("TypeConversionError", py.get_type::<TypeConversionError>())?;
    m.add("Utf8Error", py.get_type::<Utf8Error>())?;
    m.add("GzipError", py.get_type::<GzipError>())?;
    Ok(())
}

/// Converts an engine error into the matching Python exception, with its position.
pub fn to_py(e: RustError) -> PyErr {
    let err = match e.kind {
        ErrorKind::CsvFormat => CsvFormatError::new_err(e.message.clone()),
        ErrorKind::TypeConversion => TypeConversionError::new_err(e.message.clone()),
        ErrorKind::Utf8 => Utf8Error::new_err(e.message.clone()),
        ErrorKind::Gzip => GzipError::new_err(e.message.clone()),
        ErrorKind::Invalid => EngineError::new_err(e.message.clone()),
        ErrorKind::Io => return PyOSError::new_err(e.message),
    };
    Python::attach(|py| {
        let value = err.value(py);
        // Attributes are best effort: the exception itself must always reach the caller.
        let _ = value.setattr("row", e.row);
        let _ = value.setattr("column", e.column.clone());
        let _ = value.setattr("byte_offset", e.byte_offset);
    });
    err
}
