//! The walkthrough's teardown: the part 2 infrastructure (with the buckets
//! and what Firehose delivered to them), the ETL workers' lease table, and
//! the part 1 stream, deleted.

use aws_sdk_kinesis::operation::delete_stream::DeleteStreamError;

use super::{LabError, Walkthrough, say};
use crate::aws_error::{self, AwsError};
use crate::lab_names::CLI_STREAM;

pub fn walk(walk: &Walkthrough) -> Result<(), LabError> {
    walk.step(
        "teardown",
        "Delete what the lab made",
        "The part 2 infrastructure (with the buckets and what Firehose delivered), the ETL workers' lease \
         table if there is one, and the part 1 stream.",
    );
    // `infra down` deletes the lease table too.
    walk.run(&["infra", "down"])?;
    let stream = walk.block_on(async {
        let clients = walk.target().connect().await?;
        let stream = match clients
            .kinesis
            .delete_stream()
            .stream_name(CLI_STREAM)
            .send()
            .await
        {
            Ok(_) => true,
            Err(err) if aws_error::is(&err, DeleteStreamError::is_resource_not_found_exception) => false,
            Err(err) => return Err(AwsError::failed(format_args!("delete stream {CLI_STREAM}"), &err).into()),
        };
        Ok::<_, LabError>(stream)
    })?;
    if stream {
        say!(walk, "deleted stream {CLI_STREAM}");
    }
    Ok(())
}
