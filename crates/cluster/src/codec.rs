//! How huiqi's table and plan node cross the wire: the client sends the logical plan to the
//! scheduler, the scheduler sends each task's physical plan to an executor. Everything else is
//! Ballista's own codecs' business; a buffer of ours starts with a tag of its own.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;

use crate::job::Job;
use crate::plan::{ChunksExec, ChunksTable};

const TABLE_TAG: &[u8] = b"huiqi.chunks-table/1\n";
const EXEC_TAG: &[u8] = b"huiqi.chunks-exec/1\n";

fn bad(what: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("huiqi codec: {what}: {e}"))
}

fn job_bytes(job: &Job, buf: &mut Vec<u8>) -> Result<()> {
    serde_json::to_writer(buf, job).map_err(|e| bad("encoding the job", e))
}

fn job_from(bytes: &[u8]) -> Result<Arc<Job>> {
    serde_json::from_slice(bytes)
        .map(Arc::new)
        .map_err(|e| bad("decoding the job", e))
}

/// Ballista's logical codec, plus huiqi's chunks table.
#[derive(Debug, Default)]
pub struct LogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.strip_prefix(TABLE_TAG) {
            Some(rest) => Ok(Arc::new(ChunksTable {
                job: job_from(rest)?,
                schema,
            })),
            None => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match node.downcast_ref::<ChunksTable>() {
            Some(t) => {
                buf.extend_from_slice(TABLE_TAG);
                job_bytes(&t.job, buf)
            }
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }
}

/// Ballista's physical codec, plus huiqi's chunks plan node: the tag, the schema's length (u32,
/// little-endian), the schema as DataFusion's protobuf, then the job as JSON.
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(rest) = buf.strip_prefix(EXEC_TAG) else {
            return self.inner.try_decode(buf, inputs, ctx, proto_converter);
        };
        let (len, rest) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("decoding the plan node", "truncated"))?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(bad("decoding the plan node", "truncated schema"));
        }
        let (schema, job) = rest.split_at(len);
        let proto = datafusion_proto::protobuf::Schema::decode(schema)
            .map_err(|e| bad("decoding the schema", e))?;
        let schema = Schema::try_from(&proto).map_err(|e| bad("decoding the schema", e))?;
        let [input] = inputs else {
            return Err(bad("decoding the plan node", "it has one input"));
        };
        Ok(Arc::new(ChunksExec::new(
            job_from(job)?,
            Arc::new(schema),
            input.clone(),
        )))
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        let Some(exec) = node.downcast_ref::<ChunksExec>() else {
            return self.inner.try_encode(node, buf, proto_converter);
        };
        let schema = datafusion_proto::protobuf::Schema::try_from(exec.schema.as_ref())
            .map_err(|e| bad("encoding the schema", e))?
            .encode_to_vec();
        let len = u32::try_from(schema.len()).map_err(|e| bad("encoding the schema", e))?;
        buf.extend_from_slice(EXEC_TAG);
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&schema);
        job_bytes(&exec.job, buf)
    }
}
