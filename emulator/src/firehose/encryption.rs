//! Server-side encryption of a delivery stream: what CreateDeliveryStream's
//! `DeliveryStreamEncryptionConfigurationInput` and
//! Start/StopDeliveryStreamEncryption set, and how DescribeDeliveryStream
//! reports it, `ENABLING` and `DISABLING` included.
//!
//! The emulator encrypts nothing (objects are plain files to open in an
//! editor); it keeps and reports the configuration as AWS does, so that code
//! that sets it up runs unchanged.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::error::FirehoseError;
use super::validate::{self, Object};

const KEY_ARN_PATTERN: &str = r"arn:.*:kms:[a-zA-Z0-9\-]+:\d{12}:(key|alias)/[a-zA-Z_0-9+=,.@\-_/]+";
static KEY_ARN: LazyLock<Regex> = LazyLock::new(|| validate::anchored(KEY_ARN_PATTERN));

/// A delivery stream's encryption.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    /// Where it is going: on or off.
    pub enabled: bool,
    pub key_type: Option<String>,
    pub key_arn: Option<String>,
    /// When the change under way is done (ENABLING -> ENABLED).
    pub settles_at: Instant,
}

impl Default for Encryption {
    fn default() -> Encryption {
        Encryption {
            enabled: false,
            key_type: None,
            key_arn: None,
            settles_at: Instant::now(),
        }
    }
}

impl Encryption {
    /// Encryption turned on with `config`, done `after` from now.
    pub fn start(config: &Object, member: &str, after: Duration) -> Result<Encryption, FirehoseError> {
        let key_type = validate::req_str(config, "KeyType", &format!("{member}.keyType"))?;
        validate::one_of(
            &format!("{member}.keyType"),
            key_type,
            &["AWS_OWNED_CMK", "CUSTOMER_MANAGED_CMK"],
        )?;
        let key_arn = validate::opt_str(config, "KeyARN", &format!("{member}.keyARN"))?;
        if let Some(arn) = key_arn {
            validate::length(&format!("{member}.keyARN"), arn, 1, 512)?;
            validate::pattern(&format!("{member}.keyARN"), arn, &KEY_ARN, KEY_ARN_PATTERN)?;
        }
        match (key_type, key_arn) {
            ("CUSTOMER_MANAGED_CMK", None) => {
                return Err(FirehoseError::invalid_argument(
                    "KeyARN is required when KeyType is CUSTOMER_MANAGED_CMK",
                ));
            }
            ("AWS_OWNED_CMK", Some(_)) => {
                return Err(FirehoseError::invalid_argument(
                    "KeyARN must not be given when KeyType is AWS_OWNED_CMK",
                ));
            }
            _ => {}
        }
        Ok(Encryption {
            enabled: true,
            key_type: Some(key_type.to_owned()),
            key_arn: key_arn.map(str::to_owned),
            settles_at: Instant::now() + after,
        })
    }

    /// Encryption turned off, done `after` from now; the key is forgotten.
    pub fn stop(after: Duration) -> Encryption {
        Encryption {
            enabled: false,
            key_type: None,
            key_arn: None,
            settles_at: Instant::now() + after,
        }
    }

    pub fn status(&self) -> &'static str {
        let settled = Instant::now() >= self.settles_at;
        match (self.enabled, settled) {
            (true, true) => "ENABLED",
            (true, false) => "ENABLING",
            (false, true) => "DISABLED",
            (false, false) => "DISABLING",
        }
    }

    /// `DeliveryStreamEncryptionConfiguration`, as DescribeDeliveryStream has it.
    pub fn describe(&self) -> Value {
        let mut description = json!({"Status": self.status()});
        if let Some(key_type) = &self.key_type {
            description["KeyType"] = json!(key_type);
        }
        if let Some(key_arn) = &self.key_arn {
            description["KeyARN"] = json!(key_arn);
        }
        description
    }

    /// The request member that sets this encryption up again after a restart.
    pub fn as_input(&self) -> Option<Value> {
        let key_type = self.key_type.as_ref().filter(|_| self.enabled)?;
        let mut input = json!({"KeyType": key_type});
        if let Some(key_arn) = &self.key_arn {
            input["KeyARN"] = json!(key_arn);
        }
        Some(input)
    }
}
