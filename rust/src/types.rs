//! Salesforce field types and the Arrow types they decode to.
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// How a Salesforce field type is decoded; several Salesforce types share one kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SfType {
    /// id, reference, string, picklist, textarea, email, phone, url, combobox, base64,
    /// encryptedstring, multipicklist (`;`-joined), address, location, anyType, and any
    /// column the schema does not name.
    String,
    Boolean,
    /// int and long: 64-bit so that `long` and large `int` roll-ups never overflow.
    Int,
    /// double, currency, percent.
    Double,
    Date,
    /// UTC timestamp in microseconds (Polars' default unit; Salesforce sends milliseconds).
    DateTime,
    /// Time of day with millisecond precision, stored as nanoseconds.
    Time,
}

impl SfType {
    /// Parses a Salesforce type name (as `describe` reports it), case-insensitively.
    pub fn from_name(name: &str) -> Option<SfType> {
        let lower = name.trim().to_ascii_lowercase();
        let t = match lower.as_str() {
            "id"
            | "reference"
            | "string"
            | "picklist"
            | "textarea"
            | "email"
            | "phone"
            | "url"
            | "combobox"
            | "encryptedstring"
            | "base64"
            | "multipicklist"
            | "address"
            | "location"
            | "anytype"
            | "text"
            | "str"
            | "utf8"
            | "datacategorygroupreference"
            | "complexvalue"
            | "json" => SfType::String,
            "boolean" | "bool" => SfType::Boolean,
            "int" | "integer" | "long" | "int64" => SfType::Int,
            "double" | "currency" | "percent" | "float" | "float64" | "number" => SfType::Double,
            "date" => SfType::Date,
            "datetime" => SfType::DateTime,
            "time" => SfType::Time,
            _ => return None,
        };
        Some(t)
    }

    /// The Arrow type a column of this kind decodes to.
    pub fn arrow_type(self) -> DataType {
        match self {
            SfType::String => DataType::Utf8View,
            SfType::Boolean => DataType::Boolean,
            SfType::Int => DataType::Int64,
            SfType::Double => DataType::Float64,
            SfType::Date => DataType::Date32,
            SfType::DateTime => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            SfType::Time => DataType::Time64(TimeUnit::Nanosecond),
        }
    }

    /// A short name for messages.
    pub fn name(self) -> &'static str {
        match self {
            SfType::String => "string",
            SfType::Boolean => "boolean",
            SfType::Int => "int",
            SfType::Double => "double",
            SfType::Date => "date",
            SfType::DateTime => "datetime",
            SfType::Time => "time",
        }
    }
}

/// A mapping of column name to Salesforce type; lookups fall back to a case-insensitive
/// match because Salesforce field names are case-insensitive.
#[derive(Clone, Debug, Default)]
pub struct TypeMap {
    entries: Vec<(String, SfType)>,
}

impl TypeMap {
    pub fn new(entries: Vec<(String, SfType)>) -> Self {
        TypeMap { entries }
    }

    /// Columns in the order they were given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The type of `column`; columns the map does not name are strings.
    pub fn get(&self, column: &str) -> SfType {
        if let Some((_, t)) = self.entries.iter().find(|(n, _)| n == column) {
            return *t;
        }
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(column))
            .map(|(_, t)| *t)
            .unwrap_or(SfType::String)
    }
}

/// A column name that appears more than once, if any: a frame needs unique names.
pub fn repeated_column(columns: &[String]) -> Option<&str> {
    let mut seen = std::collections::HashSet::with_capacity(columns.len());
    columns
        .iter()
        .find(|c| !seen.insert(c.as_str()))
        .map(String::as_str)
}

/// The Arrow schema for `columns` typed by `types` (every field nullable).
pub fn arrow_schema(columns: &[String], types: &TypeMap) -> SchemaRef {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| Field::new(c, types.get(c).arrow_type(), true))
        .collect();
    Arc::new(Schema::new(fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_documented_type_name_is_known() {
        for name in [
            "id",
            "reference",
            "string",
            "picklist",
            "textarea",
            "email",
            "phone",
            "url",
            "combobox",
            "encryptedstring",
            "base64",
            "boolean",
            "int",
            "long",
            "double",
            "currency",
            "percent",
            "date",
            "datetime",
            "time",
            "multipicklist",
            "address",
            "location",
            "anyType",
        ] {
            assert!(SfType::from_name(name).is_some(), "{name}");
        }
        assert_eq!(SfType::from_name("Currency"), Some(SfType::Double));
        assert_eq!(SfType::from_name("nonsense"), None);
    }

    #[test]
    fn unknown_columns_are_strings_and_lookup_ignores_case() {
        let m = TypeMap::new(vec![("NumberOfEmployees".into(), SfType::Int)]);
        assert_eq!(m.get("numberofemployees"), SfType::Int);
        assert_eq!(m.get("Name"), SfType::String);
    }
}
