//! One file per Firehose action, each the same shape:
//! `execute(&Firehose, input) -> Result<output, FirehoseError>`.
//!
//! [`dispatch`] matches every operation with no catch-all arm, so adding one is
//! a compile error until it is handled here.

mod create_delivery_stream;
mod delete_delivery_stream;
mod describe_delivery_stream;
mod list_delivery_streams;
mod list_tags_for_delivery_stream;
mod put_record;
mod put_record_batch;
mod start_delivery_stream_encryption;
mod stop_delivery_stream_encryption;
mod tag_delivery_stream;
mod untag_delivery_stream;
mod update_destination;

use serde_json::Value;

use super::Firehose;
use super::error::FirehoseError;

pub use create_delivery_stream::restore;

/// The operations this Firehose serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CreateDeliveryStream,
    DeleteDeliveryStream,
    DescribeDeliveryStream,
    ListDeliveryStreams,
    PutRecord,
    PutRecordBatch,
    UpdateDestination,
    TagDeliveryStream,
    UntagDeliveryStream,
    ListTagsForDeliveryStream,
    StartDeliveryStreamEncryption,
    StopDeliveryStreamEncryption,
}

impl Operation {
    /// The operation named after `Firehose_20150804.` in `X-Amz-Target`.
    pub fn parse(name: &str) -> Option<Operation> {
        Some(match name {
            "CreateDeliveryStream" => Operation::CreateDeliveryStream,
            "DeleteDeliveryStream" => Operation::DeleteDeliveryStream,
            "DescribeDeliveryStream" => Operation::DescribeDeliveryStream,
            "ListDeliveryStreams" => Operation::ListDeliveryStreams,
            "PutRecord" => Operation::PutRecord,
            "PutRecordBatch" => Operation::PutRecordBatch,
            "UpdateDestination" => Operation::UpdateDestination,
            "TagDeliveryStream" => Operation::TagDeliveryStream,
            "UntagDeliveryStream" => Operation::UntagDeliveryStream,
            "ListTagsForDeliveryStream" => Operation::ListTagsForDeliveryStream,
            "StartDeliveryStreamEncryption" => Operation::StartDeliveryStreamEncryption,
            "StopDeliveryStreamEncryption" => Operation::StopDeliveryStreamEncryption,
            _ => return None,
        })
    }
}

pub async fn dispatch(
    firehose: &Firehose,
    operation: Operation,
    input: Value,
) -> Result<Value, FirehoseError> {
    match operation {
        Operation::CreateDeliveryStream => create_delivery_stream::execute(firehose, input).await,
        Operation::DeleteDeliveryStream => delete_delivery_stream::execute(firehose, input).await,
        Operation::DescribeDeliveryStream => describe_delivery_stream::execute(firehose, input).await,
        Operation::ListDeliveryStreams => list_delivery_streams::execute(firehose, input).await,
        Operation::PutRecord => put_record::execute(firehose, input).await,
        Operation::PutRecordBatch => put_record_batch::execute(firehose, input).await,
        Operation::UpdateDestination => update_destination::execute(firehose, input).await,
        Operation::TagDeliveryStream => tag_delivery_stream::execute(firehose, input).await,
        Operation::UntagDeliveryStream => untag_delivery_stream::execute(firehose, input).await,
        Operation::ListTagsForDeliveryStream => list_tags_for_delivery_stream::execute(firehose, input).await,
        Operation::StartDeliveryStreamEncryption => {
            start_delivery_stream_encryption::execute(firehose, input).await
        }
        Operation::StopDeliveryStreamEncryption => {
            stop_delivery_stream_encryption::execute(firehose, input).await
        }
    }
}
