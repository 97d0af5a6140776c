//! The embedded local AWS of kinesis-lab: Kinesis, Firehose, DynamoDB, S3 and CloudWatch behind one
//! endpoint, so the whole lab runs on a laptop with no AWS account and no Docker.
//!
//! - [`server`]: the endpoint, dispatching each request by its `X-Amz-Target`, and
//!   the emulator's life (start, shutdown).
//! - [`kinesis`]: Kinesis Data Streams, which is ferrokinesis, embedded.
//! - [`firehose`]: Firehose, the one service written here: it reads Kinesis and
//!   delivers to S3 as AWS does.
//! - [`dynamodb`]: DynamoDB, which is dynoxide on SQLite, embedded: where the
//!   ETL's workers keep their KCL lease table.
//! - [`cloudwatch`]: CloudWatch metrics, the lab's clients' and the emulator's own.
//! - [`logs`]: CloudWatch Logs, where Firehose writes why a delivery failed.
//! - [`s3`]: S3, which is s3s and s3s-fs: objects are plain files.
//! - [`sts`]: STS's `GetCallerIdentity`, so lab code can ask for its account id.
//! - [`clients`]: the SDK clients Firehose uses to reach Kinesis and S3.
//! - [`config`]: ports, directories, identities and timings.
//! - [`aws_error`]: AWS's JSON error shape.
//!
//! The emulator never calls real AWS: every client it builds points at itself.

pub mod aws_error;
pub mod clients;
pub mod cloudwatch;
pub mod config;
pub mod console;
pub mod dynamodb;
pub mod firehose;
pub mod kinesis;
pub mod logs;
pub mod s3;
pub mod server;
pub mod sts;

pub use config::Config;
pub use server::{Emulator, HEALTH_PATH, Restored, StartError};
