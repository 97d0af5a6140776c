//! The walkthrough's teardown: the part 2 infrastructure (with the buckets
//! and what Firehose delivered to them) and the part 1 stream, deleted.

use aws_sdk_kinesis::operation::delete_stream::DeleteStreamError;

use super::{LabError, Walkthrough, say};
use crate::aws_error::{self, AwsError};
use crate::lab_names::CLI_STREAM;

pub fn walk(walk: &Walkthrough) -> Result<(), LabError> {
    walk.step(
        "teardown",
        "Delete what the lab made",
        "The part 2 infrastructure (with the buckets and what Firehose delivered), and the part 1 stream.",
    );
    walk.run(&["infra", "down"])?;
    let deleted = walk.block_on(async {
        let clients = walk.target().connect().await?;
        match clients
            .kinesis
            .delete_stream()
            .stream_name(CLI_STREAM)
            .send()
            .await
        {
            Ok(_) => Ok::<_, LabError>(true),
            Err(err) if aws_error::is(&err, DeleteStreamError::is_resource_not_found_exception) => Ok(false),
            Err(err) => Err(AwsError::failed(format_args!("delete stream {CLI_STREAM}"), &err).into()),
        }
    })?;
    if deleted {
        say!(walk, "deleted stream {CLI_STREAM}");
    }
    Ok(())
}
