//! Writing a submission's rows: Parquet files encoded on a thread of their own (so encoding
//! overlaps validation), with settings chosen per column from the first batch, and the
//! batch helpers that add the store's own columns.

use std::path::Path;
use std::sync::Arc;

use delta_kernel::expressions::Scalar;
use indexmap::IndexMap;

use deltalake::BlindDeltaTable;
use deltalake::arrow::array::{ArrayRef, RecordBatch, StringArray};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::kernel::Add;
use deltalake::writer::{DeltaWriter, RecordBatchWriter, WriteMode};

use std::collections::HashMap;

use crate::{PARTNER_COLUMN, PERIOD_COLUMN, SUBMISSION_COLUMN, StoreError, Submission};

/// Parquet files roll at this size, so a big submission is several files, not one huge one.
pub(crate) const TARGET_FILE_SIZE: u64 = 128 << 20;

/// The Parquet writer of a pending submission. It runs on its own thread, so that encoding
/// and compressing the rows overlaps reading and validating the file.
///
/// A submission is one partner and one period, so every row goes to one partition: the
/// batches go to delta-rs's `write_partition` without the partition columns, which spares
/// it grouping every batch by partner and period and copying each group out (`take`).
pub(crate) struct FileWriter {
    tx: Option<crossbeam_channel::Sender<RecordBatch>>,
    handle: Option<std::thread::JoinHandle<Result<Vec<Add>, StoreError>>>,
    schema: String,
}

impl FileWriter {
    pub(crate) fn start(
        table: BlindDeltaTable,
        schema: &str,
        partner: &str,
        period: &str,
    ) -> Result<Self, StoreError> {
        let (tx, rx) = crossbeam_channel::bounded::<RecordBatch>(4);
        let name = schema.to_owned();
        // In the table's partition order (`create`): the files' folder is `_partner=…/_period=…`.
        let partition: IndexMap<String, Scalar> = IndexMap::from([
            (
                PARTNER_COLUMN.to_owned(),
                Scalar::String(partner.to_owned()),
            ),
            (PERIOD_COLUMN.to_owned(), Scalar::String(period.to_owned())),
        ]);
        let handle = std::thread::Builder::new()
            .name("parquet-writer".into())
            .spawn(move || {
                // One worker beside this thread: delta-rs hands each finished row group to
                // object_store's upload as a spawned task, and this thread blocks on the
                // channel between batches. On a current-thread runtime those tasks ran only
                // when the file closed, so a 128 MiB file's bytes were all held until then.
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("parquet-upload")
                    .enable_all()
                    .build()
                    .map_err(|e| StoreError::io(Path::new("tokio runtime"), e))?;
                rt.block_on(async {
                    let mut writer: Option<RecordBatchWriter> = None;
                    for batch in rx {
                        let w = match writer.as_mut() {
                            Some(w) => w,
                            // Settled on the first batch: it shows which columns repeat.
                            None => writer.insert(
                                RecordBatchWriter::for_blind_appends(&table)
                                    .map_err(|e| StoreError::delta(&name, e))?
                                    .with_target_file_size(TARGET_FILE_SIZE)
                                    .with_writer_properties(writer_properties(&batch)),
                            ),
                        };
                        w.write_partition(batch, &partition, WriteMode::Default)
                            .await
                            .map_err(|e| StoreError::delta(&name, e))?;
                    }
                    match writer {
                        Some(mut w) => w.flush().await.map_err(|e| StoreError::delta(&name, e)),
                        None => Ok(Vec::new()),
                    }
                })
            })
            .map_err(|e| StoreError::io(Path::new("parquet writer thread"), e))?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
            schema: schema.to_owned(),
        })
    }

    pub(crate) fn send(&mut self, batch: RecordBatch) -> Result<(), StoreError> {
        let sent = self.tx.as_ref().map(|tx| tx.send(batch).is_ok());
        if sent == Some(true) {
            return Ok(());
        }
        // The writer stopped: its own error says why.
        self.finish().and(Err(StoreError::Delta {
            table: self.schema.clone(),
            message: "the Parquet writer stopped".into(),
        }))
    }

    /// Waits for the last file and returns the adds of every file written.
    pub(crate) fn finish(&mut self) -> Result<Vec<Add>, StoreError> {
        self.tx = None;
        match self.handle.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(StoreError::Delta {
                table: self.schema.clone(),
                message: "the Parquet writer panicked".into(),
            }),
            None => Err(StoreError::Delta {
                table: self.schema.clone(),
                message: "the Parquet writer was already finished".into(),
            }),
        }
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Parquet settings: statistics per column chunk (Delta's file statistics come from them), row
/// groups of 128 Ki rows (a row group is held in memory until it is complete), and per column,
/// judged on the first batch:
/// - dictionary pages only where values repeat (regions, service types): for identifiers and
///   pseudonyms a dictionary is pure cost;
/// - no statistics for text whose values do not repeat (identifiers, pseudonyms): the minimum
///   and maximum of random hex prune nothing in any reader, Delta's statistics are of dates
///   ([`crate::side_tables::stats_columns`]), and comparing every value to keep them was the
///   writer's largest cost after its encoding; a footer then holds no pseudonym either;
/// - snappy only where it pays: a dictionary column's pages are already bit-packed indices
///   (snappy left them at 92–107% on the peers' file), and a pseudonym is 32 random hex digits
///   (90%); identifiers and row numbers shrink to a quarter or a half.
pub(crate) fn writer_properties(
    first: &RecordBatch,
) -> deltalake::parquet::file::properties::WriterProperties {
    use deltalake::arrow::array::{Array, Int64Array};
    use deltalake::parquet::basic::Compression;
    use deltalake::parquet::file::properties::{EnabledStatistics, WriterProperties};
    use deltalake::parquet::schema::types::ColumnPath;
    const SAMPLE: usize = 10_000;
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .set_max_row_group_row_count(Some(128 * 1024));
    let n = first.num_rows().min(SAMPLE);
    for (field, column) in first.schema().fields().iter().zip(first.columns()) {
        // The sample's values as a plain page holds them (strings with their length).
        let values: Vec<Vec<u8>> = if let Some(c) = column.as_any().downcast_ref::<StringArray>() {
            (0..n)
                .filter(|&i| c.is_valid(i))
                .map(|i| {
                    let v = c.value(i).as_bytes();
                    let mut plain = (v.len() as u32).to_le_bytes().to_vec();
                    plain.extend_from_slice(v);
                    plain
                })
                .collect()
        } else if let Some(c) = column.as_any().downcast_ref::<Int64Array>() {
            (0..n)
                .filter(|&i| c.is_valid(i))
                .map(|i| c.value(i).to_le_bytes().to_vec())
                .collect()
        } else {
            continue;
        };
        let distinct = values
            .iter()
            .collect::<std::collections::HashSet<_>>()
            .len();
        let bytes = values.concat();
        if n < 100 {
            continue;
        }
        let path = ColumnPath::from(field.name().as_str());
        let pays = if distinct * 2 > n {
            builder = builder.set_column_dictionary_enabled(path.clone(), false);
            if column.as_any().is::<StringArray>() {
                builder =
                    builder.set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
            }
            snap::raw::Encoder::new()
                .compress_vec(&bytes)
                .is_ok_and(|c| c.len() * 10 < bytes.len() * 8)
        } else {
            false
        };
        if !pays {
            builder = builder.set_column_compression(path, Compression::UNCOMPRESSED);
        }
    }
    builder.build()
}

pub(crate) fn table_schema(rows: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<Field> = rows.fields().iter().map(|f| f.as_ref().clone()).collect();
    fields.push(Field::new(SUBMISSION_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(PARTNER_COLUMN, DataType::Utf8, false));
    fields.push(Field::new(PERIOD_COLUMN, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

pub(crate) fn constant(value: &str, n: usize) -> ArrayRef {
    Arc::new(StringArray::from(vec![value; n]))
}

/// A batch of accepted rows with the submission's id: the table's columns but the partition
/// columns, which live in the files' partition values.
pub(crate) fn with_submission_column(
    batch: &RecordBatch,
    s: &Submission,
) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
    let id = constant(&s.id, batch.num_rows());
    with_columns(
        batch,
        vec![(Field::new(SUBMISSION_COLUMN, DataType::Utf8, false), id)],
    )
}

/// A batch read from a file with its partition values as columns (sorted by name).
pub(crate) fn add_partition_columns(
    batch: &RecordBatch,
    partitions: &HashMap<String, Option<String>>,
) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
    let mut names: Vec<&String> = partitions.keys().collect();
    names.sort();
    let extra = names
        .into_iter()
        .filter(|name| batch.schema().index_of(name).is_err())
        .map(|name| {
            let v = partitions.get(name).cloned().flatten().unwrap_or_default();
            (
                Field::new(name.as_str(), DataType::Utf8, false),
                constant(&v, batch.num_rows()),
            )
        })
        .collect();
    with_columns(batch, extra)
}

/// `batch` with more columns after its own.
pub(crate) fn with_columns(
    batch: &RecordBatch,
    extra: Vec<(Field, ArrayRef)>,
) -> Result<RecordBatch, deltalake::arrow::error::ArrowError> {
    let schema = batch.schema();
    let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
    let mut columns = batch.columns().to_vec();
    for (field, column) in extra {
        fields.push(field);
        columns.push(column);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex;
    use deltalake::arrow::array::Int64Array;
    use deltalake::parquet::basic::Compression;
    use deltalake::parquet::file::properties::EnabledStatistics;
    use deltalake::parquet::schema::types::ColumnPath;
    use sha2::{Digest, Sha256};

    #[test]
    fn parquet_compresses_and_keeps_dictionaries_only_where_they_pay() {
        let n = 10_000;
        let ids: Vec<String> = (0..n).map(|i| format!("P07-{i:09}")).collect();
        // Pseudonyms look like this: hex digits of a keyed hash.
        let pseudonyms: Vec<String> = (0..n)
            .map(|i| hex(&Sha256::digest(format!("person {i}").as_bytes())[..16]))
            .collect();
        let regions = ["north", "south", "east", "west"];
        let region: Vec<&str> = (0..n).map(|i| regions[i % 4]).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("record_id", DataType::Utf8, false),
            Field::new("person_id", DataType::Utf8, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("_row_number", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(ids)),
                Arc::new(StringArray::from(pseudonyms)),
                Arc::new(StringArray::from(region)),
                Arc::new(Int64Array::from_iter_values(2..(n as i64 + 2))),
            ],
        )
        .unwrap();
        let props = writer_properties(&batch);
        let col = |name: &str| ColumnPath::from(name);
        // Identifiers and row numbers: plain pages, compressed.
        assert!(!props.dictionary_enabled(&col("record_id")));
        assert_eq!(props.compression(&col("record_id")), Compression::SNAPPY);
        assert!(!props.dictionary_enabled(&col("_row_number")));
        assert_eq!(props.compression(&col("_row_number")), Compression::SNAPPY);
        // Pseudonyms: random, so neither a dictionary nor snappy can shrink them.
        assert!(!props.dictionary_enabled(&col("person_id")));
        assert_eq!(
            props.compression(&col("person_id")),
            Compression::UNCOMPRESSED
        );
        // Few values: a dictionary, whose bit-packed indices snappy cannot shrink.
        assert!(props.dictionary_enabled(&col("region")));
        assert_eq!(props.compression(&col("region")), Compression::UNCOMPRESSED);
        // Statistics where a reader can prune by them: not for text that never repeats.
        let stats = |name: &str| props.statistics_enabled(&col(name));
        assert_eq!(stats("record_id"), EnabledStatistics::None);
        assert_eq!(stats("person_id"), EnabledStatistics::None);
        assert_eq!(stats("region"), EnabledStatistics::Chunk);
        assert_eq!(stats("_row_number"), EnabledStatistics::Chunk);
    }
}
