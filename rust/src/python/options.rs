//! Converting Python option values into engine options, with helpful errors.
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::columns::OnError;
use crate::decoder::{delimiter_byte, line_ending_is_crlf};
use crate::gzip::GzipMode;
use crate::types::{SfType, TypeMap};

pub fn delimiter(name: &str) -> PyResult<u8> {
    delimiter_byte(name).ok_or_else(|| {
        PyValueError::new_err(format!(
            "unknown delimiter {name:?}: use COMMA, TAB, PIPE, SEMICOLON, CARET or BACKQUOTE"
        ))
    })
}

pub fn crlf(name: &str) -> PyResult<bool> {
    line_ending_is_crlf(name).ok_or_else(|| {
        PyValueError::new_err(format!("unknown line ending {name:?}: use LF or CRLF"))
    })
}

pub fn on_error(name: &str) -> PyResult<OnError> {
    match name {
        "raise" => Ok(OnError::Raise),
        "null" => Ok(OnError::Null),
        _ => Err(PyValueError::new_err(format!(
            "on_error must be 'raise' or 'null', not {name:?}"
        ))),
    }
}

pub fn gzip(flag: Option<bool>) -> GzipMode {
    match flag {
        None => GzipMode::Auto,
        Some(true) => GzipMode::On,
        Some(false) => GzipMode::Off,
    }
}

/// A `{column: salesforce_type}` mapping; the order of the dict is kept.
pub fn type_map(schema: Option<&Bound<'_, PyDict>>) -> PyResult<TypeMap> {
    let Some(schema) = schema else {
        return Ok(TypeMap::default());
    };
    let mut entries = Vec::with_capacity(schema.len());
    for (k, v) in schema.iter() {
        let column: String = k.extract()?;
        let type_name: String = v.extract().map_err(|_| {
            PyValueError::new_err(format!(
                "schema[{column:?}] must be a Salesforce field type name such as 'string', \
                 'int', 'double', 'boolean', 'date' or 'datetime'"
            ))
        })?;
        let ty = SfType::from_name(&type_name).ok_or_else(|| {
            PyValueError::new_err(format!(
                "schema[{column:?}] = {type_name:?} is not a Salesforce field type; use one \
                 of id, reference, string, picklist, multipicklist, textarea, email, phone, \
                 url, combobox, encryptedstring, base64, address, location, anyType, \
                 boolean, int, long, double, currency, percent, date, datetime, time"
            ))
        })?;
        entries.push((column, ty));
    }
    Ok(TypeMap::new(entries))
}
