//! Accepted rows into typed Arrow record batches.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema, SchemaRef, TimeUnit};
use backbone_schema::{FieldType, TableSchema};

use crate::cast::Value;
use crate::pseudonym::Pseudonymiser;

/// The column that carries each row's physical row number in the partner's file.
pub const ROW_NUMBER_COLUMN: &str = "_row_number";

/// The Arrow schema of accepted rows: the schema's fields in their canonical types (personal
/// data as its pseudonym, text), then [`ROW_NUMBER_COLUMN`].
pub fn arrow_schema(schema: &TableSchema) -> SchemaRef {
    let mut fields: Vec<ArrowField> = schema
        .fields
        .iter()
        .map(|f| {
            let required = f
                .constraints
                .required
                .as_ref()
                .is_some_and(|r| r.value && r.severity == backbone_schema::Severity::Error);
            ArrowField::new(
                &f.name,
                if f.pii {
                    DataType::Utf8
                } else {
                    arrow_type(f.field_type)
                },
                !required,
            )
        })
        .collect();
    fields.push(ArrowField::new(ROW_NUMBER_COLUMN, DataType::Int64, false));
    Arc::new(Schema::new(fields))
}

fn arrow_type(t: FieldType) -> DataType {
    match t {
        FieldType::String | FieldType::Any | FieldType::Yearmonth => DataType::Utf8,
        FieldType::Integer => DataType::Int64,
        FieldType::Number => DataType::Float64,
        FieldType::Boolean => DataType::Boolean,
        FieldType::Date => DataType::Date32,
        FieldType::Datetime => DataType::Timestamp(TimeUnit::Microsecond, None),
        FieldType::Year => DataType::Int32,
    }
}

enum Col {
    Str(StringBuilder),
    Int(Int64Builder),
    Num(Float64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Ts(TimestampMicrosecondBuilder),
    Year(Int32Builder),
}

pub(crate) struct Output {
    schema: SchemaRef,
    cols: Vec<Col>,
    pii: Vec<bool>,
    rows: Int64Builder,
    pseudonymiser: Option<Pseudonymiser>,
}

impl Output {
    pub(crate) fn new(
        schema: &TableSchema,
        batch_rows: usize,
        pseudonymiser: Option<Pseudonymiser>,
    ) -> Self {
        let arrow = arrow_schema(schema);
        let cols = arrow
            .fields()
            .iter()
            .take(schema.fields.len())
            .map(|f| match f.data_type() {
                DataType::Int64 => Col::Int(Int64Builder::with_capacity(batch_rows)),
                DataType::Float64 => Col::Num(Float64Builder::with_capacity(batch_rows)),
                DataType::Boolean => Col::Bool(BooleanBuilder::with_capacity(batch_rows)),
                DataType::Date32 => Col::Date(Date32Builder::with_capacity(batch_rows)),
                DataType::Timestamp(..) => {
                    Col::Ts(TimestampMicrosecondBuilder::with_capacity(batch_rows))
                }
                DataType::Int32 => Col::Year(Int32Builder::with_capacity(batch_rows)),
                _ => Col::Str(StringBuilder::with_capacity(batch_rows, batch_rows * 8)),
            })
            .collect();
        Self {
            schema: arrow,
            cols,
            pii: schema.fields.iter().map(|f| f.pii).collect(),
            rows: Int64Builder::with_capacity(batch_rows),
            pseudonymiser,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// Appends one accepted row; `values` is indexed by schema field.
    pub(crate) fn push(&mut self, row_number: u64, values: &[Value<'_>]) {
        for (i, (col, v)) in self.cols.iter_mut().zip(values).enumerate() {
            if self.pii[i] {
                if let Col::Str(b) = col {
                    match (v, &self.pseudonymiser) {
                        (Value::Null, _) | (_, None) => b.append_null(),
                        (v, Some(p)) => {
                            // Hex digits, always UTF-8: no allocation per row.
                            let hex = p.pseudonym_hex(&v.canonical());
                            b.append_value(std::str::from_utf8(&hex).unwrap_or_default());
                        }
                    }
                }
                continue;
            }
            match (col, v) {
                (Col::Str(b), Value::Null) => b.append_null(),
                (Col::Str(b), v) => b.append_value(v.canonical()),
                (Col::Int(b), Value::Int(i)) => b.append_value(*i),
                (Col::Num(b), Value::Num(n)) => b.append_value(*n),
                (Col::Bool(b), Value::Bool(x)) => b.append_value(*x),
                (Col::Date(b), Value::Date(d)) => b.append_value(*d),
                (Col::Ts(b), Value::DateTime(t)) => b.append_value(*t),
                (Col::Year(b), Value::Year(y)) => b.append_value(*y),
                (Col::Int(b), _) => b.append_null(),
                (Col::Num(b), _) => b.append_null(),
                (Col::Bool(b), _) => b.append_null(),
                (Col::Date(b), _) => b.append_null(),
                (Col::Ts(b), _) => b.append_null(),
                (Col::Year(b), _) => b.append_null(),
            }
        }
        self.rows
            .append_value(i64::try_from(row_number).unwrap_or(i64::MAX));
    }

    pub(crate) fn finish(&mut self) -> Result<RecordBatch, arrow_schema::ArrowError> {
        let mut arrays: Vec<ArrayRef> = self
            .cols
            .iter_mut()
            .map(|c| -> ArrayRef {
                match c {
                    Col::Str(b) => Arc::new(b.finish()),
                    Col::Int(b) => Arc::new(b.finish()),
                    Col::Num(b) => Arc::new(b.finish()),
                    Col::Bool(b) => Arc::new(b.finish()),
                    Col::Date(b) => Arc::new(b.finish()),
                    Col::Ts(b) => Arc::new(b.finish()),
                    Col::Year(b) => Arc::new(b.finish()),
                }
            })
            .collect();
        arrays.push(Arc::new(self.rows.finish()));
        RecordBatch::try_new(self.schema.clone(), arrays)
    }
}
