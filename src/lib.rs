//! kinesis-lab: the "Streaming Ingestion" lab on Amazon Kinesis, rebuilt in Rust.
//!
//! A map of the crate, in the order the lab meets each piece:
//!
//! - [`session`]: the lab's record, a user session, parsed and validated.
//! - [`generator`]: the lab's hidden source producer: seeded sessions and Poisson arrival gaps.
//! - [`hidden_producer`]: the lab's hidden producer, `generate --stream`: generated sessions put on a stream.
//! - [`enrich`]: what the ETL adds to a session (lab steps 2.2.3 to 2.2.7), a pure function.
//! - [`routing`]: USA or International (lab step 2.2.8), and the destinations object.
//! - [`stream_name`]: Kinesis stream names, checked before any request.
//! - [`target`]: where requests go: the embedded emulator, another endpoint, or real AWS.
//! - [`shard_reader`]: reading every shard, within the limits, through expiries and
//!   reshards (the workspace's `shard-reader` crate, shared with the emulator).
//! - [`aws_error`]: AWS's errors, told apart by type and worded one way per situation.
//! - [`consumer`]: the lab's consumer loop (step 1.3): every record, handed over one by one.
//! - [`checkpoint`]: where a consumer got to, saved so that it can resume.
//! - [`lab_names`]: the lab's resource names and settings, pure.
//! - [`infra`]: the lab's part 2 resources, by their exact names: up, down, status.
//! - [`wait`]: waiting until something is ready, one way for every wait.
//! - [`batch_writer`]: records written with PutRecords, within the limits, refusals told apart.
//! - [`etl`]: the streaming ETL: read, enrich, route, write in batches, checkpoint.
//! - [`lease`]: ETL workers sharing a stream's shards through a KCL lease table in DynamoDB.
//! - [`verify`]: what Firehose delivered, checked record by record.
//! - [`grade`]: a learner's programs graded lab step by lab step: part 1 and part 2.
//! - [`lab`]: the walkthrough, step by step, with the lab's programs or a learner's.
//! - [`fixtures`]: the generated files under `fixtures/`, and how to make them.

pub mod aws_error;
pub mod batch_writer;
pub mod checkpoint;
pub mod consumer;
pub mod enrich;
pub mod etl;
pub mod fixtures;
pub mod generator;
pub mod grade;
pub mod hidden_producer;
pub mod infra;
pub mod lab;
pub mod lab_names;
pub mod lease;
pub mod routing;
pub mod session;
pub mod stream_name;
pub mod target;
pub mod verify;
pub mod wait;

pub use shard_reader;
