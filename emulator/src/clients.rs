//! The emulator's own AWS clients.
//!
//! Our Firehose reads its Kinesis source and writes to S3 the way the real one
//! does: as a client of those services, through the same endpoint any learner
//! uses, with the official SDK. That keeps the three services separate (Firehose
//! never reaches into ferrokinesis or the S3 files), and a bucket that does not
//! exist yet refuses a write exactly as it would refuse anyone's.

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};

use crate::config::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

#[derive(Clone, Debug)]
pub struct Clients {
    pub kinesis: aws_sdk_kinesis::Client,
    pub s3: aws_sdk_s3::Client,
    /// For the console's lease tables.
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Clients {
    pub fn new(endpoint_url: &str, region: &str) -> Clients {
        let credentials = Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "kinesis-lab-emulator",
        );
        let region = Region::new(region.to_owned());
        let kinesis = aws_sdk_kinesis::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .region(region.clone())
            .credentials_provider(credentials.clone())
            .build();
        let dynamodb = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .region(region.clone())
            .credentials_provider(credentials.clone())
            .build();
        let s3 = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint_url)
            .region(region)
            .credentials_provider(credentials)
            // Bucket names in the path: virtual-hosted names would need DNS for
            // `<bucket>.127.0.0.1`.
            .force_path_style(true)
            .build();
        Clients {
            kinesis: aws_sdk_kinesis::Client::from_conf(kinesis),
            s3: aws_sdk_s3::Client::from_conf(s3),
            dynamodb: aws_sdk_dynamodb::Client::from_conf(dynamodb),
        }
    }
}
