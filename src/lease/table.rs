//! The lease table in DynamoDB, kept as the KCL 2.x keeps it, so that a KCL
//! application could read it: one item a shard, keyed by `leaseKey`.
//!
//! | attribute | type | what |
//! |---|---|---|
//! | `leaseKey` | S | the shard id (the table's hash key) |
//! | `leaseOwner` | S | the worker that holds it; absent when none does |
//! | `leaseCounter` | N | moved on by every renewal, take and checkpoint |
//! | `checkpoint` | S | a sequence number, or `TRIM_HORIZON`, `LATEST`, `AT_TIMESTAMP`, `SHARD_END` |
//! | `checkpointSubSequenceNumber` | N | the KPL user record within that Kinesis record |
//! | `ownerSwitchesSinceCheckpoint` | N | how often it changed hands since its last checkpoint |
//! | `parentShardId` | SS | the shards it was split or merged from |
//! | `childShardIds` | SS | the shards it was split or merged into, once it has ended |
//! | `startingHashKey`, `endingHashKey` | S | its hash key range |
//!
//! A checkpoint removes `pendingCheckpoint`, `pendingCheckpointSubSequenceNumber`
//! and `pendingCheckpointState`, as the KCL's does: a KCL application that
//! prepared a checkpoint and lost the lease leaves them behind.
//!
//! KCL 3.x stores `throughputKBps`, `checkpointOwner` and `entityType` too,
//! and keeps tables of its own for worker metrics and coordination; none of
//! them is written here (see the README). (Its `isMarkedForLeaseSteal` is a
//! field of its lease objects in memory, not an attribute of the table.)
//!
//! Every write that changes a lease is conditional on the `leaseCounter` the
//! writer last saw (and, for its own leases, on being their owner): of two
//! workers racing for a lease, one write fails with
//! `ConditionalCheckFailedException`, which comes back here as `None`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::delete_table::DeleteTableError;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, ReturnValue,
    ScalarAttributeType, TableStatus, Tag,
};

use crate::aws_error;
use crate::wait::{Look, Patience};

/// Where a lease's shard has been read to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseCheckpoint {
    /// Nothing read yet; start at the oldest record.
    TrimHorizon,
    /// Nothing read yet; start with what comes next.
    Latest,
    /// Nothing read yet; start at the workers' `--from` time.
    AtTimestamp,
    /// Everything is read: the shard ended (split or merged).
    ShardEnd,
    /// Everything up to this record is written; `sub_sequence` is the last
    /// KPL user record of it that was.
    After { sequence: String, sub_sequence: u64 },
}

impl LeaseCheckpoint {
    fn to_attributes(&self) -> (String, u64) {
        match self {
            LeaseCheckpoint::TrimHorizon => ("TRIM_HORIZON".to_owned(), 0),
            LeaseCheckpoint::Latest => ("LATEST".to_owned(), 0),
            LeaseCheckpoint::AtTimestamp => ("AT_TIMESTAMP".to_owned(), 0),
            LeaseCheckpoint::ShardEnd => ("SHARD_END".to_owned(), 0),
            LeaseCheckpoint::After {
                sequence,
                sub_sequence,
            } => (sequence.clone(), *sub_sequence),
        }
    }

    fn from_attributes(checkpoint: &str, sub_sequence: u64) -> LeaseCheckpoint {
        match checkpoint {
            "TRIM_HORIZON" => LeaseCheckpoint::TrimHorizon,
            "LATEST" => LeaseCheckpoint::Latest,
            "AT_TIMESTAMP" => LeaseCheckpoint::AtTimestamp,
            "SHARD_END" => LeaseCheckpoint::ShardEnd,
            sequence => LeaseCheckpoint::After {
                sequence: sequence.to_owned(),
                sub_sequence,
            },
        }
    }
}

/// The tag on a lease table made here that names the stream it shares.
pub const STREAM_TAG: &str = "kinesis-lab:stream";

/// The tag on a lease table made here that holds when its stream was made:
/// a stream deleted and made again under the same name is another stream,
/// whose sequence numbers the leases' checkpoints know nothing of.
pub const STREAM_CREATED_TAG: &str = "kinesis-lab:stream-created";

/// The stream a lease table shares: its name, and when it was made
/// (DescribeStreamSummary's `StreamCreationTimestamp`, in epoch seconds as
/// the service gives it).
#[derive(Debug, Clone, PartialEq)]
pub struct SharedStream {
    pub name: String,
    pub created: f64,
}

impl SharedStream {
    fn created_tag(&self) -> String {
        self.created.to_string()
    }
}

/// What DynamoDB accepts as a table name: 3 to 255 characters from
/// `a-z A-Z 0-9 _ . -`. Checked before any request, as stream names are, so
/// that a typo is told in one line rather than in a `ValidationException`.
pub fn check_table_name(name: &str) -> Result<(), String> {
    const RULE: &str = "a DynamoDB table name is 3 to 255 characters of letters, digits, '_', '-' and '.'";
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(format!("lease table name \"{name}\" holds {bad:?}: {RULE}"));
    }
    match name.len() {
        3..=255 => Ok(()),
        len => Err(format!(
            "lease table name \"{name}\" is {len} character{} long: {RULE}",
            if len == 1 { "" } else { "s" }
        )),
    }
}

/// One shard's lease, as the table holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The shard id.
    pub key: String,
    pub owner: Option<String>,
    pub counter: u64,
    pub checkpoint: LeaseCheckpoint,
    pub owner_switches_since_checkpoint: u64,
    pub parents: Vec<String>,
    pub children: Vec<String>,
    /// The shard's hash key range, in decimal.
    pub hash_keys: Option<(String, String)>,
}

impl Lease {
    /// A new lease, held by nobody.
    pub fn new(key: &str, parents: Vec<String>, checkpoint: LeaseCheckpoint) -> Lease {
        Lease {
            key: key.to_owned(),
            owner: None,
            counter: 0,
            checkpoint,
            owner_switches_since_checkpoint: 0,
            parents,
            children: Vec::new(),
            hash_keys: None,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.checkpoint == LeaseCheckpoint::ShardEnd
    }

    fn to_item(&self) -> HashMap<String, AttributeValue> {
        let (checkpoint, sub_sequence) = self.checkpoint.to_attributes();
        let mut item = HashMap::from([
            ("leaseKey".to_owned(), s(&self.key)),
            ("leaseCounter".to_owned(), n(self.counter)),
            ("checkpoint".to_owned(), s(&checkpoint)),
            ("checkpointSubSequenceNumber".to_owned(), n(sub_sequence)),
            (
                "ownerSwitchesSinceCheckpoint".to_owned(),
                n(self.owner_switches_since_checkpoint),
            ),
        ]);
        if let Some(owner) = &self.owner {
            item.insert("leaseOwner".to_owned(), s(owner));
        }
        // DynamoDB has no empty sets: an empty list is an absent attribute.
        if !self.parents.is_empty() {
            item.insert(
                "parentShardId".to_owned(),
                AttributeValue::Ss(self.parents.clone()),
            );
        }
        if !self.children.is_empty() {
            item.insert(
                "childShardIds".to_owned(),
                AttributeValue::Ss(self.children.clone()),
            );
        }
        if let Some((start, end)) = &self.hash_keys {
            item.insert("startingHashKey".to_owned(), s(start));
            item.insert("endingHashKey".to_owned(), s(end));
        }
        item
    }

    /// The lease an item holds. An attribute of the wrong type, or a number
    /// that is not one, is an error that names it: read as a default, a
    /// `leaseCounter` would make every later conditional write fail without
    /// saying why.
    fn from_item(item: &HashMap<String, AttributeValue>) -> Result<Lease, Malformed> {
        let key = match item.get("leaseKey") {
            Some(AttributeValue::S(key)) => key.clone(),
            other => {
                return Err(Malformed {
                    key: "(no leaseKey)".to_owned(),
                    attribute: "leaseKey",
                    found: format!("{other:?}"),
                });
            }
        };
        let malformed = |attribute: &'static str, value: &AttributeValue| Malformed {
            key: key.clone(),
            attribute,
            found: format!("{value:?}"),
        };
        let text = |name: &'static str| match item.get(name) {
            None => Ok(None),
            Some(AttributeValue::S(text)) => Ok(Some(text.clone())),
            Some(other) => Err(malformed(name, other)),
        };
        let number = |name: &'static str| match item.get(name) {
            None => Ok(0),
            Some(value @ AttributeValue::N(n)) => n.parse::<u64>().map_err(|_| malformed(name, value)),
            Some(other) => Err(malformed(name, other)),
        };
        let set = |name: &'static str| match item.get(name) {
            None => Ok(Vec::new()),
            Some(AttributeValue::Ss(set)) => Ok(set.clone()),
            Some(other) => Err(malformed(name, other)),
        };
        Ok(Lease {
            owner: text("leaseOwner")?,
            counter: number("leaseCounter")?,
            checkpoint: LeaseCheckpoint::from_attributes(
                &text("checkpoint")?.unwrap_or_else(|| "TRIM_HORIZON".to_owned()),
                number("checkpointSubSequenceNumber")?,
            ),
            owner_switches_since_checkpoint: number("ownerSwitchesSinceCheckpoint")?,
            parents: set("parentShardId")?,
            children: set("childShardIds")?,
            hash_keys: text("startingHashKey")?.zip(text("endingHashKey")?),
            key,
        })
    }
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(number: u64) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

/// A lease item that is not one this module (or the KCL) writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    pub key: String,
    pub attribute: &'static str,
    pub found: String,
}

/// Why the lease table could not be used. A lost race is not one of these:
/// it comes back as `None` or `false`.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error("{0}")]
    InvalidName(String),
    #[error(
        "the lease {key} in the lease table {table} has {attribute} = {found}, which is not what the \
         KCL writes there\nFix or delete that item, or name a new table with --lease-table."
    )]
    Malformed {
        table: String,
        key: String,
        attribute: &'static str,
        found: String,
    },
    #[error(
        "the lease table {table} keeps the leases of the stream \"{shared}\", not of \"{stream}\"\n\
         Name a table of this stream's own with --lease-table."
    )]
    OtherStream {
        table: String,
        stream: String,
        shared: String,
    },
    #[error(
        "the lease table {table} keeps the leases of an earlier stream named \"{stream}\" (made at \
         {then}; this one was made at {now}), and its checkpoints are sequence numbers of that \
         stream\nStart over with --forget-checkpoint (it deletes the table's leases), or name a new \
         table with --lease-table."
    )]
    EarlierStream {
        table: String,
        stream: String,
        then: String,
        now: String,
    },
    #[error("cannot {doing} in the lease table {table}: {message}")]
    Failed {
        doing: &'static str,
        table: String,
        message: String,
    },
    #[error("the lease table {table} is not ACTIVE after {waited:?} (it is {status})")]
    NotActive {
        table: String,
        waited: Duration,
        status: String,
    },
}

/// A lease table, and the DynamoDB client that reaches it.
#[derive(Debug, Clone)]
pub struct LeaseTable {
    client: Client,
    name: String,
}

impl LeaseTable {
    /// The table `name`, made (on-demand billing, as the KCL makes it) if it
    /// is missing, once it is ACTIVE. A table made here is tagged with the
    /// stream it shares (`kinesis-lab:stream`), for the emulator's console.
    ///
    /// A table that was made for another stream, or for an earlier stream of
    /// the same name (by its tags), is refused. A table without those tags
    /// (made by a KCL application) is taken as it is.
    pub async fn ensure(
        client: Client,
        name: &str,
        stream: &SharedStream,
        timeout: Duration,
    ) -> Result<LeaseTable, LeaseError> {
        check_table_name(name).map_err(LeaseError::InvalidName)?;
        let table = LeaseTable {
            client,
            name: name.to_owned(),
        };
        let created = table
            .client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("leaseKey")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("a key schema with a name and a type"),
            )
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("leaseKey")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("an attribute with a name and a type"),
            )
            .send()
            .await;
        let made_here = match created {
            Ok(output) => output.table_description.and_then(|table| table.table_arn),
            // Another worker made it first.
            Err(err) if aws_error::is(&err, CreateTableError::is_resource_in_use_exception) => None,
            Err(err) => return Err(table.failed("create the table", &err)),
        };
        let look = || async {
            let described = table.client.describe_table().table_name(name).send().await;
            let (status, arn) = match described {
                Ok(output) => output
                    .table
                    .map_or((None, None), |t| (t.table_status, t.table_arn)),
                // A table being made may not be described yet.
                Err(err) if aws_error::is(&err, DescribeTableError::is_resource_not_found_exception) => {
                    (None, None)
                }
                Err(err) => return Err(table.failed("describe the table", &err)),
            };
            Ok(match (status, arn) {
                (Some(TableStatus::Active), Some(arn)) => Look::Ready(arn),
                (other, _) => {
                    Look::NotYet(other.map_or("not there yet".to_owned(), |s| s.as_str().to_owned()))
                }
            })
        };
        let arn = match Patience::new(timeout, Duration::from_millis(200))
            .wait(look)
            .await?
        {
            Ok(arn) => arn,
            Err(status) => {
                return Err(LeaseError::NotActive {
                    table: name.to_owned(),
                    waited: timeout,
                    status,
                });
            }
        };
        match made_here {
            Some(arn) => table.tag(&arn, stream).await?,
            None => table.check_shares(&arn, stream).await?,
        }
        Ok(table)
    }

    /// Tags a table made here with the stream it shares.
    async fn tag(&self, arn: &str, stream: &SharedStream) -> Result<(), LeaseError> {
        let tag = |key: &str, value: String| {
            Tag::builder()
                .key(key)
                .value(value)
                .build()
                .expect("a tag with a key and a value")
        };
        self.client
            .tag_resource()
            .resource_arn(arn)
            .tags(tag(STREAM_TAG, stream.name.clone()))
            .tags(tag(STREAM_CREATED_TAG, stream.created_tag()))
            .send()
            .await
            .map_err(|err| self.failed("tag the table with its stream", &err))?;
        Ok(())
    }

    /// Refuses a table whose tags say it shares another stream, or an
    /// earlier stream of the same name.
    async fn check_shares(&self, arn: &str, stream: &SharedStream) -> Result<(), LeaseError> {
        let tags = self
            .client
            .list_tags_of_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|err| self.failed("read the table's tags", &err))?;
        let tag = |key: &str| {
            tags.tags()
                .iter()
                .find(|tag| tag.key() == key)
                .map(|tag| tag.value().to_owned())
        };
        if let Some(shared) = tag(STREAM_TAG)
            && shared != stream.name
        {
            return Err(LeaseError::OtherStream {
                table: self.name.clone(),
                stream: stream.name.clone(),
                shared,
            });
        }
        if let Some(created) = tag(STREAM_CREATED_TAG)
            && created != stream.created_tag()
        {
            let when = |epoch: &str| {
                epoch
                    .parse::<f64>()
                    .ok()
                    .and_then(|secs| chrono::DateTime::from_timestamp_millis((secs * 1000.0) as i64))
                    .map_or_else(|| epoch.to_owned(), |at| at.to_rfc3339())
            };
            return Err(LeaseError::EarlierStream {
                table: self.name.clone(),
                stream: stream.name.clone(),
                then: when(&created),
                now: when(&stream.created_tag()),
            });
        }
        Ok(())
    }

    /// Deletes the table, and waits until it is gone: `--forget-checkpoint`
    /// with a lease table. Whether there was one.
    pub async fn delete(client: &Client, name: &str, timeout: Duration) -> Result<bool, LeaseError> {
        check_table_name(name).map_err(LeaseError::InvalidName)?;
        let table = LeaseTable::existing(client.clone(), name);
        match client.delete_table().table_name(name).send().await {
            Ok(_) => {}
            Err(err) if aws_error::is(&err, DeleteTableError::is_resource_not_found_exception) => {
                return Ok(false);
            }
            Err(err) => return Err(table.failed("delete the table", &err)),
        }
        let look = || async {
            match client.describe_table().table_name(name).send().await {
                Err(err) if aws_error::is(&err, DescribeTableError::is_resource_not_found_exception) => {
                    Ok(Look::Ready(()))
                }
                Err(err) => Err(table.failed("describe the table", &err)),
                Ok(output) => Ok(Look::NotYet(
                    output
                        .table
                        .and_then(|t| t.table_status)
                        .map_or("there".to_owned(), |s| s.as_str().to_owned()),
                )),
            }
        };
        match Patience::new(timeout, Duration::from_millis(200))
            .wait(look)
            .await?
        {
            Ok(()) => Ok(true),
            Err(status) => Err(LeaseError::NotActive {
                table: name.to_owned(),
                waited: timeout,
                status: format!("{status}, not deleted"),
            }),
        }
    }

    /// A table that is there already (made by the workers), to read.
    pub fn existing(client: Client, name: &str) -> LeaseTable {
        LeaseTable {
            client,
            name: name.to_owned(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Every lease, read consistently, page by page.
    pub async fn scan(&self) -> Result<Vec<Lease>, LeaseError> {
        let mut leases = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.name)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|err| self.failed("read the leases", &err))?;
            for item in page.items() {
                leases.push(Lease::from_item(item).map_err(|bad| self.malformed(bad))?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(leases);
            }
        }
    }

    /// Writes `lease` unless the table has one for its shard already;
    /// whether it did.
    pub async fn create(&self, lease: &Lease) -> Result<bool, LeaseError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(lease.to_item()))
            .condition_expression("attribute_not_exists(leaseKey)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(err) if aws_error::is(&err, PutItemError::is_conditional_check_failed_exception) => Ok(false),
            Err(err) => Err(self.failed("make a lease", &err)),
        }
    }

    /// Moves the counter of a lease `owner` holds on; the lease as it is now,
    /// or `None` when it is no longer `owner`'s at the counter seen.
    pub async fn renew(&self, lease: &Lease, owner: &str) -> Result<Option<Lease>, LeaseError> {
        self.update(
            "renew a lease",
            lease,
            "SET leaseCounter = :next",
            Some(owner),
            &[],
        )
        .await
    }

    /// Takes a lease for `owner`: one nobody holds, one whose worker is gone,
    /// or one stolen from a worker that holds more than its share. `None` when
    /// another write came first.
    pub async fn take(&self, lease: &Lease, owner: &str) -> Result<Option<Lease>, LeaseError> {
        let switches = match lease.owner.as_deref() {
            Some(previous) if previous != owner => lease.owner_switches_since_checkpoint + 1,
            _ => lease.owner_switches_since_checkpoint,
        };
        self.update(
            "take a lease",
            lease,
            "SET leaseCounter = :next, leaseOwner = :owner, ownerSwitchesSinceCheckpoint = :switches",
            None,
            &[(":owner", s(owner)), (":switches", n(switches))],
        )
        .await
    }

    /// Saves how far `owner` has written the lease's shard (which moves the
    /// counter on, as a renewal does); `None` when the lease is no longer its.
    pub async fn checkpoint(
        &self,
        lease: &Lease,
        owner: &str,
        checkpoint: &LeaseCheckpoint,
    ) -> Result<Option<Lease>, LeaseError> {
        let (sequence, sub_sequence) = checkpoint.to_attributes();
        self.update(
            "save a checkpoint",
            lease,
            "SET leaseCounter = :next, checkpoint = :checkpoint, \
             checkpointSubSequenceNumber = :sub, ownerSwitchesSinceCheckpoint = :zero \
             REMOVE pendingCheckpoint, pendingCheckpointSubSequenceNumber, pendingCheckpointState",
            Some(owner),
            &[
                (":checkpoint", s(&sequence)),
                (":sub", n(sub_sequence)),
                (":zero", n(0)),
            ],
        )
        .await
    }

    /// Records a shard's children on its lease, once it has ended.
    pub async fn set_children(
        &self,
        lease: &Lease,
        owner: &str,
        children: &[String],
    ) -> Result<Option<Lease>, LeaseError> {
        if children.is_empty() {
            return Ok(Some(lease.clone()));
        }
        self.update(
            "record a shard's children",
            lease,
            "SET leaseCounter = :next, childShardIds = :children",
            Some(owner),
            &[(":children", AttributeValue::Ss(children.to_vec()))],
        )
        .await
    }

    /// Hands a lease `owner` holds back: no owner, and the counter moved on,
    /// so that any worker may take it at once. Whether it was still `owner`'s.
    pub async fn hand_back(&self, lease: &Lease, owner: &str) -> Result<bool, LeaseError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("leaseKey", s(&lease.key))
            .update_expression("REMOVE leaseOwner SET leaseCounter = :next")
            .condition_expression("leaseOwner = :owner")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":next", n(lease.counter + 1))
            .send()
            .await;
        match updated {
            Ok(_) => Ok(true),
            Err(err) if aws_error::is(&err, UpdateItemError::is_conditional_check_failed_exception) => {
                Ok(false)
            }
            Err(err) => Err(self.failed("hand a lease back", &err)),
        }
    }

    /// One conditional update: on the counter seen (and on `owner` holding
    /// the lease, when given), with the counter moved on by one.
    async fn update(
        &self,
        doing: &'static str,
        lease: &Lease,
        expression: &str,
        owner: Option<&str>,
        values: &[(&str, AttributeValue)],
    ) -> Result<Option<Lease>, LeaseError> {
        let mut condition = "leaseCounter = :seen".to_owned();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.name)
            .key("leaseKey", s(&lease.key))
            .update_expression(expression)
            .expression_attribute_values(":seen", n(lease.counter))
            .expression_attribute_values(":next", n(lease.counter + 1))
            .return_values(ReturnValue::AllNew);
        if let Some(owner) = owner {
            condition.push_str(" AND leaseOwner = :holder");
            request = request.expression_attribute_values(":holder", s(owner));
        }
        for (name, value) in values {
            request = request.expression_attribute_values(*name, value.clone());
        }
        match request.condition_expression(condition).send().await {
            Ok(output) => match output.attributes() {
                Some(item) => Lease::from_item(item)
                    .map(Some)
                    .map_err(|bad| self.malformed(bad)),
                None => Ok(None),
            },
            Err(err) if aws_error::is(&err, UpdateItemError::is_conditional_check_failed_exception) => {
                Ok(None)
            }
            Err(err) => Err(self.failed(doing, &err)),
        }
    }

    fn failed<E, R>(&self, doing: &'static str, err: &SdkError<E, R>) -> LeaseError
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        LeaseError::Failed {
            doing,
            table: self.name.clone(),
            message: aws_error::detail(err),
        }
    }

    fn malformed(&self, bad: Malformed) -> LeaseError {
        LeaseError::Malformed {
            table: self.name.clone(),
            key: bad.key,
            attribute: bad.attribute,
            found: bad.found,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_written_in_the_kcls_attribute_names_and_types_and_read_back() {
        let mut lease = Lease::new(
            "shardId-000000000004",
            vec!["shardId-000000000001".into()],
            LeaseCheckpoint::After {
                sequence: "4965".into(),
                sub_sequence: 3,
            },
        );
        lease.owner = Some("host-42".into());
        lease.counter = 7;
        lease.hash_keys = Some(("0".into(), "170141183460469231731687303715884105727".into()));
        let item = lease.to_item();
        assert_eq!(item["leaseKey"], s("shardId-000000000004"));
        assert_eq!(item["leaseOwner"], s("host-42"));
        assert_eq!(item["leaseCounter"], n(7));
        assert_eq!(item["checkpoint"], s("4965"));
        assert_eq!(item["checkpointSubSequenceNumber"], n(3));
        assert_eq!(item["ownerSwitchesSinceCheckpoint"], n(0));
        assert_eq!(
            item["parentShardId"],
            AttributeValue::Ss(vec!["shardId-000000000001".into()])
        );
        assert!(!item.contains_key("childShardIds"), "no empty sets");
        assert_eq!(item["startingHashKey"], s("0"));
        assert_eq!(Lease::from_item(&item), Ok(lease));

        let mut fresh = Lease::new("shardId-000000000000", Vec::new(), LeaseCheckpoint::TrimHorizon);
        fresh.checkpoint = LeaseCheckpoint::ShardEnd;
        let item = fresh.to_item();
        assert_eq!(item["checkpoint"], s("SHARD_END"));
        assert!(!item.contains_key("leaseOwner") && !item.contains_key("parentShardId"));
        assert_eq!(Lease::from_item(&item), Ok(fresh));
    }

    #[test]
    fn an_unparsable_lease_counter_is_reported_by_name_not_read_as_zero() {
        let mut item = Lease::new("shardId-000000000001", Vec::new(), LeaseCheckpoint::TrimHorizon).to_item();
        item.insert("leaseCounter".to_owned(), AttributeValue::N("seven".to_owned()));
        let bad = Lease::from_item(&item).unwrap_err();
        assert_eq!(bad.key, "shardId-000000000001");
        assert_eq!(bad.attribute, "leaseCounter");
        assert!(bad.found.contains("seven"), "{bad:?}");

        item.insert("leaseCounter".to_owned(), AttributeValue::S("7".to_owned()));
        assert_eq!(Lease::from_item(&item).unwrap_err().attribute, "leaseCounter");
    }

    #[test]
    fn a_lease_table_name_dynamodb_would_refuse_is_told_in_one_line_naming_the_rule() {
        for name in ["t", "ab", "leases table", "leases/1", &"x".repeat(256)] {
            let message = check_table_name(name).unwrap_err();
            assert!(!message.contains('\n'), "{message}");
            assert!(message.contains("3 to 255 characters"), "{message}");
        }
        assert_eq!(
            check_table_name("t").unwrap_err(),
            "lease table name \"t\" is 1 character long: a DynamoDB table name is 3 to 255 characters \
             of letters, digits, '_', '-' and '.'"
        );
        for name in ["abc", "de-c2w2lab1-etl-leases", "a.b_c-9", &"x".repeat(255)] {
            assert_eq!(check_table_name(name), Ok(()), "{name}");
        }
    }
}
