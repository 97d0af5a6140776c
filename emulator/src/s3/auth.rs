//! Who may call S3: the emulator's one pair of credentials, `test` / `test`.
//!
//! s3s checks each request's SigV4 signature with the secret of its access
//! key. A request signed with any other access key gets AWS's answer,
//! `InvalidAccessKeyId`, and a message that says which key to use (s3s's own
//! provider answers `NotSignedUp`, "Your account is not signed up", which sends
//! a learner looking for an account they do not need).

use s3s::auth::{S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

use crate::config::{ACCESS_KEY_ID, SECRET_ACCESS_KEY};

pub struct Credentials;

#[async_trait::async_trait]
impl S3Auth for Credentials {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if access_key == ACCESS_KEY_ID {
            return Ok(SECRET_ACCESS_KEY.into());
        }
        Err(s3_error!(
            InvalidAccessKeyId,
            "The AWS Access Key Id you provided does not exist in our records: the kinesis-lab emulator's \
             S3 takes the access key {ACCESS_KEY_ID:?} with the secret key {SECRET_ACCESS_KEY:?} \
             (AWS_ACCESS_KEY_ID={ACCESS_KEY_ID} AWS_SECRET_ACCESS_KEY={SECRET_ACCESS_KEY})"
        ))
    }
}
