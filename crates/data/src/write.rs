//! Writing snapshot tables as Parquet with fixed writer properties, hashing the bytes as they go
//! out, so the same rows always give the same file and the same hash.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Int32Builder,
    Int64Builder, StringBuilder,
};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use huiqi_files::snapshot::table_file;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::schema::{DECIMAL_PRECISION, DECIMAL_SCALE};

/// Rows per record batch handed to the writer (bounded memory while writing).
const BATCH: usize = 65_536;

/// Every property that affects the bytes is pinned here, including `created_by` (which would
/// otherwise change with the parquet crate's version). Uncompressed: no codec version can
/// change the bytes, and every reader can read it. Row groups of 256Ki rows keep the writer's
/// buffer small, give a columnar reader units to parallelise over, and let dictionaries (which
/// stop at 1 MiB per column chunk) cover more of the data.
fn props() -> WriterProperties {
    WriterProperties::builder()
        .set_writer_version(WriterVersion::PARQUET_1_0)
        .set_created_by("huiqi-data snapshot v1".into())
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(true)
        .set_dictionary_page_size_limit(1 << 20)
        .set_data_page_size_limit(1 << 20)
        .set_write_batch_size(1024)
        .set_max_row_group_row_count(Some(1 << 18))
        .set_max_row_group_bytes(None)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_bloom_filter_enabled(false)
        .build()
}

/// Feeds everything written to the snapshot hash.
pub(crate) struct HashWrite {
    file: BufWriter<File>,
    hasher: Sha256,
}

impl Write for HashWrite {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

pub(crate) enum Col {
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    Bool(BooleanBuilder),
    Date(Date32Builder),
    Dec(Decimal128Builder),
}

impl Col {
    fn new(t: &DataType) -> Col {
        match t {
            DataType::Utf8 => Col::Str(StringBuilder::new()),
            DataType::Int32 => Col::I32(Int32Builder::new()),
            DataType::Int64 => Col::I64(Int64Builder::new()),
            DataType::Boolean => Col::Bool(BooleanBuilder::new()),
            DataType::Date32 => Col::Date(Date32Builder::new()),
            // The builder carries the snapshot's decimal type, so its arrays need no cast.
            DataType::Decimal128(..) => Col::Dec(
                Decimal128Builder::new()
                    .with_data_type(DataType::Decimal128(DECIMAL_PRECISION, DECIMAL_SCALE)),
            ),
            t => unreachable!("snapshot column type {t}"),
        }
    }
    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Str(b) => Arc::new(b.finish()),
            Col::I32(b) => Arc::new(b.finish()),
            Col::I64(b) => Arc::new(b.finish()),
            Col::Bool(b) => Arc::new(b.finish()),
            Col::Date(b) => Arc::new(b.finish()),
            Col::Dec(b) => Arc::new(b.finish()),
        }
    }
    fn len(&self) -> usize {
        match self {
            Col::Str(b) => b.len(),
            Col::I32(b) => b.len(),
            Col::I64(b) => b.len(),
            Col::Bool(b) => b.len(),
            Col::Date(b) => b.len(),
            Col::Dec(b) => b.len(),
        }
    }
    pub fn str(&mut self, v: Option<&str>) {
        match self {
            Col::Str(b) => b.append_option(v),
            _ => unreachable!(),
        }
    }
    pub fn i32(&mut self, v: Option<i32>) {
        match self {
            Col::I32(b) => b.append_option(v),
            Col::Date(b) => b.append_option(v),
            _ => unreachable!(),
        }
    }
    pub fn i64(&mut self, v: Option<i64>) {
        match self {
            Col::I64(b) => b.append_option(v),
            _ => unreachable!(),
        }
    }
    pub fn bool(&mut self, v: Option<bool>) {
        match self {
            Col::Bool(b) => b.append_option(v),
            _ => unreachable!(),
        }
    }
    pub fn dec(&mut self, v: Option<i128>) {
        match self {
            Col::Dec(b) => b.append_option(v),
            _ => unreachable!(),
        }
    }
}

/// One Parquet table being written, rows appended column by column.
pub(crate) struct Table {
    w: ArrowWriter<HashWrite>,
    schema: SchemaRef,
    pub cols: Vec<Col>,
    pub rows: u64,
}

impl Table {
    /// Starts `dir/<name>.parquet`; the snapshot hash gets `<name>.parquet`, a zero byte, then the bytes.
    pub fn create(
        dir: &Path,
        name: &str,
        schema: SchemaRef,
        mut hasher: Sha256,
    ) -> Result<Table, Error> {
        let file_name = table_file(name);
        let f = File::create(dir.join(&file_name)).map_err(|e| Error::io(&file_name, e))?;
        hasher.update(file_name.as_bytes());
        hasher.update([0u8]);
        let hw = HashWrite {
            file: BufWriter::with_capacity(1 << 20, f),
            hasher,
        };
        let w = ArrowWriter::try_new(hw, schema.clone(), Some(props()))
            .map_err(|e| Error::io(&file_name, e))?;
        let cols = schema
            .fields()
            .iter()
            .map(|f| Col::new(f.data_type()))
            .collect();
        Ok(Table {
            w,
            schema,
            cols,
            rows: 0,
        })
    }

    /// Call after appending one value to every column.
    pub fn end_row(&mut self) -> Result<(), Error> {
        self.rows += 1;
        if self.cols[0].len() >= BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Error> {
        if self.cols[0].len() == 0 {
            return Ok(());
        }
        let arrays: Vec<ArrayRef> = self.cols.iter_mut().map(Col::finish).collect();
        let batch = RecordBatch::try_new(self.schema.clone(), arrays).map_err(Error::lib)?;
        self.w.write(&batch).map_err(Error::lib)
    }

    /// Finishes the file and hands the running hash on to the next table.
    pub fn finish(mut self) -> Result<Sha256, Error> {
        self.flush()?;
        let mut hw = self.w.into_inner().map_err(Error::lib)?;
        hw.file.flush().map_err(Error::lib)?;
        hw.file.get_ref().sync_all().map_err(Error::lib)?;
        Ok(hw.hasher)
    }
}
