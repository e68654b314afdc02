//! Arrow data across the boundary: the Arrow PyCapsule interface in both directions.
use std::ffi::CStr;
use std::sync::Arc;

use arrow_array::ffi::{from_ffi, FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::{FFI_ArrowArrayStream, RecordBatchStreamReader};
use arrow_array::{Array, RecordBatch, RecordBatchIterator, RecordBatchReader, StructArray};
use arrow_schema::{DataType, Schema, SchemaRef};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyCapsuleMethods, PyDict, PyList, PyTuple};

use super::options;
use crate::types::arrow_schema;

const STREAM: &CStr = c"arrow_array_stream";
const SCHEMA: &CStr = c"arrow_schema";
const ARRAY: &CStr = c"arrow_array";

fn arrow_err(e: arrow_schema::ArrowError) -> PyErr {
    PyValueError::new_err(format!("Arrow error: {e}"))
}

/// A capsule holding a stream over `batches`.
pub fn stream_capsule<'py>(
    py: Python<'py>,
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
) -> PyResult<Bound<'py, PyCapsule>> {
    let reader = RecordBatchIterator::new(batches.into_iter().map(Ok), schema);
    let stream = FFI_ArrowArrayStream::new(Box::new(reader));
    PyCapsule::new_with_value(py, stream, STREAM)
}

fn schema_capsule<'py>(py: Python<'py>, schema: &Schema) -> PyResult<Bound<'py, PyCapsule>> {
    let ffi = FFI_ArrowSchema::try_from(schema).map_err(arrow_err)?;
    PyCapsule::new_with_value(py, ffi, SCHEMA)
}

/// One Arrow record batch, readable by Polars (`pl.DataFrame(batch)`) and any other Arrow
/// PyCapsule consumer.
#[pyclass(name = "RecordBatch", module = "sfbulk_mcp._engine", frozen)]
pub struct PyRecordBatch {
    pub batch: RecordBatch,
}

#[pymethods]
impl PyRecordBatch {
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        stream_capsule(py, self.batch.schema(), vec![self.batch.clone()])
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema;
        let array = StructArray::from(self.batch.clone());
        let ffi_schema = FFI_ArrowSchema::try_from(array.data_type()).map_err(arrow_err)?;
        let ffi_array = FFI_ArrowArray::new(&array.to_data());
        let s = PyCapsule::new_with_value(py, ffi_schema, SCHEMA)?;
        let a = PyCapsule::new_with_value(py, ffi_array, ARRAY)?;
        PyTuple::new(py, [s.into_any(), a.into_any()])
    }

    /// Rows in the batch.
    #[getter]
    fn num_rows(&self) -> usize {
        self.batch.num_rows()
    }

    /// Columns in the batch.
    #[getter]
    fn num_columns(&self) -> usize {
        self.batch.num_columns()
    }

    /// Column names in order.
    #[getter]
    fn column_names(&self) -> Vec<String> {
        self.batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// The batch's schema.
    #[getter]
    fn schema(&self) -> PySchema {
        PySchema {
            schema: self.batch.schema(),
        }
    }

    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }

    fn __repr__(&self) -> String {
        format!(
            "RecordBatch(rows={}, columns={:?})",
            self.batch.num_rows(),
            self.column_names()
        )
    }
}

/// An Arrow schema (`pl.DataFrame(schema=...)` cannot take it directly; use
/// `empty_frame` or the stream's zero-row frame).
#[pyclass(name = "Schema", module = "sfbulk_mcp._engine", frozen)]
#[derive(Clone)]
pub struct PySchema {
    pub schema: SchemaRef,
}

#[pymethods]
impl PySchema {
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        schema_capsule(py, &self.schema)
    }

    /// A zero-row stream with this schema, for building an empty typed frame.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        stream_capsule(py, self.schema.clone(), Vec::new())
    }

    /// Column names in order.
    #[getter]
    fn names(&self) -> Vec<String> {
        self.schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect()
    }

    /// Arrow type names by column, e.g. `{"Id": "Utf8View", "CreatedDate": "Timestamp(µs, \"UTC\")"}`.
    #[getter]
    fn types(&self) -> Vec<(String, String)> {
        self.schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), f.data_type().to_string()))
            .collect()
    }

    fn __len__(&self) -> usize {
        self.schema.fields().len()
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<PySchema>()
            .map(|o| o.get().schema.fields() == self.schema.fields())
            .unwrap_or(false)
    }

    fn __repr__(&self) -> String {
        let parts: Vec<String> = self
            .schema
            .fields()
            .iter()
            .map(|f| format!("{}: {}", f.name(), f.data_type()))
            .collect();
        format!("Schema({})", parts.join(", "))
    }
}

/// Several batches sharing one schema, as one Arrow stream (`pl.DataFrame(stream)`).
#[pyclass(name = "RecordBatchStream", module = "sfbulk_mcp._engine", frozen)]
pub struct PyBatchStream {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
}

#[pymethods]
impl PyBatchStream {
    /// Gathers `batches` (engine `RecordBatch` objects) under `schema`.
    #[new]
    #[pyo3(signature = (batches, schema))]
    fn new(batches: &Bound<'_, PyList>, schema: &Bound<'_, PySchema>) -> PyResult<Self> {
        let schema = schema.get().schema.clone();
        let mut out = Vec::with_capacity(batches.len());
        for b in batches.iter() {
            let b = b.cast::<PyRecordBatch>().map_err(|_| {
                PyTypeError::new_err("RecordBatchStream takes the engine's RecordBatch objects")
            })?;
            let batch = b.get().batch.clone();
            if batch.schema().fields() != schema.fields() {
                return Err(PyValueError::new_err(
                    "a batch's columns differ from the stream's schema",
                ));
            }
            out.push(batch);
        }
        Ok(PyBatchStream {
            schema,
            batches: out,
        })
    }

    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        stream_capsule(py, self.schema.clone(), self.batches.clone())
    }

    #[getter]
    fn num_rows(&self) -> usize {
        self.batches.iter().map(|b| b.num_rows()).sum()
    }

    #[getter]
    fn schema(&self) -> PySchema {
        PySchema {
            schema: self.schema.clone(),
        }
    }
}

/// Reads any Arrow PyCapsule producer (`__arrow_c_stream__` or `__arrow_c_array__`) as a
/// batch reader. Engine batches are taken without a round trip through C.
pub fn import_reader(obj: &Bound<'_, PyAny>) -> PyResult<Box<dyn RecordBatchReader + Send>> {
    if let Ok(b) = obj.cast::<PyRecordBatch>() {
        let batch = b.get().batch.clone();
        let schema = batch.schema();
        return Ok(Box::new(RecordBatchIterator::new(vec![Ok(batch)], schema)));
    }
    if obj.hasattr("__arrow_c_stream__")? {
        let capsule = obj.call_method0("__arrow_c_stream__")?;
        let capsule = capsule.cast::<PyCapsule>()?;
        let ptr = capsule.pointer_checked(Some(STREAM))?;
        // SAFETY: the capsule holds a valid FFI_ArrowArrayStream (checked by name); `from_raw`
        // moves it out and leaves a released stream behind, as the PyCapsule protocol asks.
        let reader =
            unsafe { RecordBatchStreamReader::from_raw(ptr.as_ptr() as *mut FFI_ArrowArrayStream) }
                .map_err(arrow_err)?;
        return Ok(Box::new(reader));
    }
    if obj.hasattr("__arrow_c_array__")? {
        let pair = obj.call_method0("__arrow_c_array__")?;
        let (s, a): (Bound<'_, PyAny>, Bound<'_, PyAny>) = pair.extract()?;
        let s = s.cast::<PyCapsule>()?;
        let a = a.cast::<PyCapsule>()?;
        let sp = s.pointer_checked(Some(SCHEMA))?;
        let ap = a.pointer_checked(Some(ARRAY))?;
        // SAFETY: both capsules are checked by name; the array is moved out of its capsule,
        // the schema is only borrowed.
        let data = unsafe {
            let array = FFI_ArrowArray::from_raw(ap.as_ptr() as *mut FFI_ArrowArray);
            let schema = &*(sp.as_ptr() as *const FFI_ArrowSchema);
            from_ffi(array, schema)
        }
        .map_err(arrow_err)?;
        if !matches!(data.data_type(), DataType::Struct(_)) {
            return Err(PyTypeError::new_err(
                "expected a table-like Arrow object (a struct array / record batch)",
            ));
        }
        let batch = RecordBatch::from(StructArray::from(data));
        let schema = batch.schema();
        return Ok(Box::new(RecordBatchIterator::new(vec![Ok(batch)], schema)));
    }
    Err(PyTypeError::new_err(format!(
        "expected an Arrow table-like object (a polars DataFrame, an Arrow table or record \
         batch: anything with __arrow_c_stream__ or __arrow_c_array__), got {}",
        obj.get_type().name()?
    )))
}

/// Reads a schema from the engine's Schema, a `{column: salesforce_type}` dict, or any
/// object with `__arrow_c_schema__`.
pub fn import_schema(obj: &Bound<'_, PyAny>) -> PyResult<SchemaRef> {
    if let Ok(s) = obj.cast::<PySchema>() {
        return Ok(s.get().schema.clone());
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let types = options::type_map(Some(d))?;
        let cols: Vec<String> = types.names().map(str::to_string).collect();
        return Ok(arrow_schema(&cols, &types));
    }
    if obj.hasattr("__arrow_c_schema__")? {
        let capsule = obj.call_method0("__arrow_c_schema__")?;
        let capsule = capsule.cast::<PyCapsule>()?;
        let ptr = capsule.pointer_checked(Some(SCHEMA))?;
        // SAFETY: checked by name; the schema is only borrowed.
        let ffi = unsafe { &*(ptr.as_ptr() as *const FFI_ArrowSchema) };
        let schema = Schema::try_from(ffi).map_err(arrow_err)?;
        return Ok(Arc::new(schema));
    }
    Err(PyTypeError::new_err(
        "schema must be a {column: salesforce_type} dict, an engine Schema, or an object with \
         __arrow_c_schema__",
    ))
}

/// The Arrow schema the decoder gives `columns` typed by `types` (a Salesforce type dict).
#[pyfunction]
#[pyo3(signature = (columns, types=None))]
fn schema_for(columns: Vec<String>, types: Option<&Bound<'_, PyDict>>) -> PyResult<PySchema> {
    if let Some(name) = crate::types::repeated_column(&columns) {
        return Err(PyValueError::new_err(format!(
            "columns names {name:?} more than once; column names must be unique"
        )));
    }
    let types = options::type_map(types)?;
    Ok(PySchema {
        schema: arrow_schema(&columns, &types),
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRecordBatch>()?;
    m.add_class::<PySchema>()?;
    m.add_class::<PyBatchStream>()?;
    m.add_function(wrap_pyfunction!(schema_for, m)?)?;
    Ok(())
}
