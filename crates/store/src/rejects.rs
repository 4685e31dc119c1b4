//! The `rejects` table: one row per problem of every rejected row, with its submission and
//! physical row number. Personal-data cells are never here (the caller leaves them out).

use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use crate::{StoreError, Submission};

/// One problem of one rejected row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// The row's physical row number in the partner's file.
    pub row_number: u64,
    /// The error type (`type-error`, `constraint-error`, …).
    pub error_type: String,
    /// The schema field, when the problem is in one.
    pub field: Option<String>,
    /// The cell as the partner wrote it; `None` for personal data, or when there is no cell.
    pub cell: Option<String>,
    /// Why it is wrong.
    pub message: String,
}

/// Rejects per Parquet write: bounded memory whatever the number of bad rows.
pub(crate) const BATCH: usize = 8192;

pub(crate) fn schema() -> SchemaRef {
    let text = |n: &str, null| Field::new(n, DataType::Utf8, null);
    Arc::new(Schema::new(vec![
        text("submission_id", false),
        text("schema", false),
        text("partner", false),
        text("period", false),
        Field::new("row_number", DataType::Int64, false),
        text("error_type", false),
        text("field", true),
        text("cell", true),
        text("message", false),
    ]))
}

pub(crate) fn rows(s: &Submission, rejects: &[Reject]) -> Result<RecordBatch, StoreError> {
    let n = rejects.len();
    let constant = |v: &str| Arc::new(StringArray::from(vec![v; n])) as ArrayRef;
    let columns: Vec<ArrayRef> = vec![
        constant(&s.id),
        constant(&s.schema),
        constant(&s.partner),
        constant(&s.period),
        Arc::new(Int64Array::from_iter_values(
            rejects
                .iter()
                .map(|r| i64::try_from(r.row_number).unwrap_or(i64::MAX)),
        )),
        Arc::new(StringArray::from_iter_values(
            rejects.iter().map(|r| r.error_type.as_str()),
        )),
        Arc::new(StringArray::from_iter(
            rejects.iter().map(|r| r.field.as_deref()),
        )),
        Arc::new(StringArray::from_iter(
            rejects.iter().map(|r| r.cell.as_deref()),
        )),
        Arc::new(StringArray::from_iter_values(
            rejects.iter().map(|r| r.message.as_str()),
        )),
    ];
    RecordBatch::try_new(schema(), columns)
        .map_err(|e| StoreError::Ledger(format!("rejects table: {e}")))
}
