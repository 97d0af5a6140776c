//! DynamoDB on the emulator's endpoint (issue 25), through the official SDK
//! client: what a KCL lease table needs, in today's parameters and in the
//! legacy ones the Java KCL still sends, kept on a durable data directory and
//! gone with `--ephemeral`.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeAction, AttributeValue, AttributeValueUpdate, ExpectedAttributeValue, TableStatus,
};
use emulator::{Config, Emulator};

fn client(emulator: &Emulator) -> Client {
    crate::dynamodb(emulator.endpoint_url())
}

async fn create_lease_table(dynamodb: &Client, name: &str) {
    crate::create_lease_table(dynamodb, name).await.unwrap();
}

fn s(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn n(number: u64) -> AttributeValue {
    AttributeValue::N(number.to_string())
}

async fn lease(dynamodb: &Client, table: &str, key: &str) -> HashMap<String, AttributeValue> {
    dynamodb
        .get_item()
        .table_name(table)
        .key("leaseKey", s(key))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

/// A lease made, renewed and taken with condition expressions: a write on a
/// stale `leaseCounter` is refused with `ConditionalCheckFailedException`, so
/// two workers can never both own the lease.
#[tokio::test]
async fn conditional_writes_keep_a_lease_with_one_owner() {
    let emulator = Emulator::start(Config::for_tests()).await.unwrap();
    let dynamodb = client(&emulator);
    create_lease_table(&dynamodb, "leases").await;
    let described = dynamodb
        .describe_table()
        .table_name("leases")
        .send()
        .await
        .unwrap();
    let table = described.table.unwrap();
    assert_eq!(table.table_status, Some(TableStatus::Active));
    assert_eq!(
        table.table_arn.as_deref(),
        Some("arn:aws:dynamodb:us-east-1:000000000000:table/leases"),
        "the emulator's account and region"
    );

    let put = || {
        dynamodb
            .put_item()
            .table_name("leases")
            .item("leaseKey", s("shardId-000000000000"))
            .item("leaseCounter", n(0))
            .item("checkpoint", s("TRIM_HORIZON"))
            .condition_expression("attribute_not_exists(leaseKey)")
            .send()
    };
    put().await.unwrap();
    let again = put().await.unwrap_err();
    assert_eq!(again.code(), Some("ConditionalCheckFailedException"));

    let take = |owner: &'static str, counter: u64| {
        dynamodb
            .update_item()
            .table_name("leases")
            .key("leaseKey", s("shardId-000000000000"))
            .update_expression("SET leaseOwner = :owner, leaseCounter = :next")
            .condition_expression("leaseCounter = :seen")
            .expression_attribute_values(":owner", s(owner))
            .expression_attribute_values(":next", n(counter + 1))
            .expression_attribute_values(":seen", n(counter))
            .send()
    };
    take("worker-a", 0).await.unwrap();
    // worker-b saw counter 0 too: too late.
    let late = take("worker-b", 0).await.unwrap_err();
    assert_eq!(late.code(), Some("ConditionalCheckFailedException"));
    let held = lease(&dynamodb, "leases", "shardId-000000000000").await;
    assert_eq!(held["leaseOwner"], s("worker-a"));
    assert_eq!(held["leaseCounter"], n(1));

    let missing = dynamodb
        .describe_table()
        .table_name("nowhere")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("ResourceNotFoundException"));
    let twice = crate::create_lease_table(&dynamodb, "leases").await.unwrap_err();
    assert_eq!(twice.code(), Some("ResourceInUseException"));
}

/// The legacy `Expected` and `AttributeUpdates` parameters, as the Java KCL
/// sends them to renew and to hand back a lease.
#[tokio::test]
async fn the_kcls_legacy_expected_and_attribute_updates_are_taken() {
    let emulator = Emulator::start(Config::for_tests()).await.unwrap();
    let dynamodb = client(&emulator);
    create_lease_table(&dynamodb, "kcl").await;
    dynamodb
        .put_item()
        .table_name("kcl")
        .item("leaseKey", s("shardId-000000000001"))
        .item("leaseCounter", n(4))
        .item("leaseOwner", s("worker-a"))
        .expected(
            "leaseKey",
            ExpectedAttributeValue::builder().exists(false).build(),
        )
        .send()
        .await
        .unwrap();
    let renew = |seen: u64| {
        dynamodb
            .update_item()
            .table_name("kcl")
            .key("leaseKey", s("shardId-000000000001"))
            .expected(
                "leaseCounter",
                ExpectedAttributeValue::builder().value(n(seen)).build(),
            )
            .attribute_updates(
                "leaseCounter",
                AttributeValueUpdate::builder()
                    .action(AttributeAction::Put)
                    .value(n(seen + 1))
                    .build(),
            )
            .send()
    };
    renew(4).await.unwrap();
    assert_eq!(
        renew(4).await.unwrap_err().code(),
        Some("ConditionalCheckFailedException")
    );
    // Handed back: the owner removed, the counter moved on.
    dynamodb
        .update_item()
        .table_name("kcl")
        .key("leaseKey", s("shardId-000000000001"))
        .expected(
            "leaseOwner",
            ExpectedAttributeValue::builder().value(s("worker-a")).build(),
        )
        .attribute_updates(
            "leaseOwner",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Delete)
                .build(),
        )
        .attribute_updates(
            "leaseCounter",
            AttributeValueUpdate::builder()
                .action(AttributeAction::Add)
                .value(n(1))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let handed_back = lease(&dynamodb, "kcl", "shardId-000000000001").await;
    assert!(!handed_back.contains_key("leaseOwner"), "{handed_back:?}");
    assert_eq!(handed_back["leaseCounter"], n(6));
}

/// A Scan pages through a table with `ExclusiveStartKey`: every lease once.
#[tokio::test]
async fn a_scan_pages_through_every_item_once() {
    let emulator = Emulator::start(Config::for_tests()).await.unwrap();
    let dynamodb = client(&emulator);
    create_lease_table(&dynamodb, "many").await;
    for i in 0..23 {
        dynamodb
            .put_item()
            .table_name("many")
            .item("leaseKey", s(&format!("shardId-{i:012}")))
            .send()
            .await
            .unwrap();
    }
    let mut keys = Vec::new();
    let mut start = None;
    let mut pages = 0;
    loop {
        let page = dynamodb
            .scan()
            .table_name("many")
            .limit(5)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        pages += 1;
        keys.extend(page.items().iter().map(|item| item["leaseKey"].clone()));
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    assert!(pages >= 5, "{pages} pages");
    keys.sort_by_key(|key| key.as_s().unwrap().clone());
    keys.dedup();
    assert_eq!(keys.len(), 23);
}

/// On a durable data directory the tables and their items survive a
/// restart; with `--ephemeral` (not durable) they are gone.
#[tokio::test]
async fn tables_outlive_a_restart_on_a_durable_data_directory_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = |durable: bool| Config {
        data_dir: Some(dir.path().to_path_buf()),
        durable,
        ..Config::for_tests()
    };
    let first = Emulator::start(config(true)).await.unwrap();
    let dynamodb = client(&first);
    create_lease_table(&dynamodb, "kept").await;
    dynamodb
        .put_item()
        .table_name("kept")
        .item("leaseKey", s("shardId-000000000000"))
        .item("checkpoint", s("49650000"))
        .send()
        .await
        .unwrap();
    first.shutdown().await;

    let second = Emulator::start(config(true)).await.unwrap();
    let kept = lease(&client(&second), "kept", "shardId-000000000000").await;
    assert_eq!(kept["checkpoint"], s("49650000"));
    second.shutdown().await;

    let ephemeral = Emulator::start(config(false)).await.unwrap();
    let tables = client(&ephemeral).list_tables().send().await.unwrap();
    assert!(tables.table_names().is_empty(), "{:?}", tables.table_names());
}
