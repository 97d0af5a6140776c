//! DynamoDB, on the emulator's endpoint: where the ETL's workers keep their
//! KCL lease table (`kinesis-lab etl --lease-table`), and any other table a
//! learner's code makes.
//!
//! The engine is `dynoxide` (the `dynoxide-rs` crate): DynamoDB's API on
//! SQLite, in a file of the data directory (`dynamodb/tables.sqlite3`), or in
//! memory with `--ephemeral`. It takes the legacy parameters the Java KCL
//! still sends (`Expected`, `AttributeUpdates`) as well as condition and
//! update expressions, and answers with DynamoDB's own error types.
//!
//! dynoxide's server is private to it, so this module is the protocol layer:
//! it reads the body, decodes the request into dynoxide's request type (the
//! wire JSON), calls the engine on a blocking thread (SQLite blocks), and
//! writes the answer as JSON 1.0. Table ARNs are given this emulator's
//! account and region, as AWS would write them.

use std::path::Path;

use axum::body::Body;
use dynoxide::{Database, DynoxideError};
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest request body DynamoDB takes (a BatchWriteItem of 25 items of
/// 400 KB stays well under it).
const MAX_REQUEST_BODY: usize = 16 << 20;

/// The ARN prefix the engine writes, and ours.
const ENGINE_ARN_PREFIX: &str = "arn:aws:dynamodb:dynoxide:000000000000:";

/// The service: one engine for every table of the emulator.
#[derive(Clone)]
pub struct DynamoDb {
    engine: Database,
    arn_prefix: String,
}

impl DynamoDb {
    /// The tables in `dir` (made if missing), or in memory when `None`.
    pub fn open(dir: Option<&Path>, region: &str, account_id: &str) -> std::io::Result<DynamoDb> {
        let engine = match dir {
            Some(dir) => {
                std::fs::create_dir_all(dir)?;
                let file = dir.join("tables.sqlite3");
                let path = file.to_str().ok_or_else(|| {
                    std::io::Error::other(format!("{} is not a UTF-8 path", file.display()))
                })?;
                Database::new(path)
            }
            None => Database::memory(),
        }
        .map_err(|err| std::io::Error::other(format!("cannot open DynamoDB's tables: {err}")))?;
        Ok(DynamoDb {
            engine,
            arn_prefix: format!("arn:aws:dynamodb:{region}:{account_id}:"),
        })
    }

    /// Answers one request; `operation` is the part of `X-Amz-Target` after
    /// `DynamoDB_20120810.`.
    pub async fn handle(&self, operation: &str, request: Request<Incoming>) -> Response<Body> {
        let body = match Limited::new(request.into_body(), MAX_REQUEST_BODY)
            .collect()
            .await
        {
            Ok(body) => body.to_bytes(),
            Err(err) => {
                return answer(Err(DynoxideError::SerializationException(format!(
                    "the request body could not be read: {err}"
                ))));
            }
        };
        let (engine, operation) = (self.engine.clone(), operation.to_owned());
        let arn_prefix = self.arn_prefix.clone();
        // The engine holds one SQLite connection: calls wait for it, off the
        // async workers. A panic in it is one failed request, not the endpoint.
        let outcome = tokio::task::spawn_blocking(move || {
            let body = std::str::from_utf8(&body)
                .unwrap_or_default()
                .replace(&arn_prefix, ENGINE_ARN_PREFIX);
            call(&engine, &operation, &body).map(|json| json.replace(ENGINE_ARN_PREFIX, &arn_prefix))
        })
        .await
        .unwrap_or_else(|panic| {
            Err(DynoxideError::InternalServerError(format!(
                "the request failed inside the DynamoDB engine: {panic}"
            )))
        });
        answer(outcome)
    }

    /// Every table's name (for the console).
    pub fn table_names(&self) -> Vec<String> {
        let request = serde_json::from_str("{}").expect("an empty ListTables request");
        self.engine
            .list_tables(request)
            .map(|listed| listed.table_names)
            .unwrap_or_default()
    }

    /// The engine itself, for the emulator's own pages.
    pub fn engine(&self) -> &Database {
        &self.engine
    }
}

/// Runs `operation` with the wire JSON `body`; the answer's wire JSON.
fn call(engine: &Database, operation: &str, body: &str) -> Result<String, DynoxideError> {
    fn run<Q: DeserializeOwned, A: Serialize>(
        body: &str,
        action: impl FnOnce(Q) -> Result<A, DynoxideError>,
    ) -> Result<String, DynoxideError> {
        let answer = action(decode(body)?)?;
        serde_json::to_string(&answer).map_err(|err| DynoxideError::InternalServerError(err.to_string()))
    }
    // Every operation DynamoDB's data plane and table API have that the
    // engine implements; no catch-all but the refusal of the rest.
    match operation {
        "CreateTable" => run(body, |q| engine.create_table(q)),
        "DescribeTable" => run(body, |q| engine.describe_table(q)),
        "UpdateTable" => run(body, |q| engine.update_table(q)),
        "DeleteTable" => run(body, |q| engine.delete_table(q)),
        "ListTables" => run(body, |q| engine.list_tables(q)),
        "GetItem" => run(body, |q| engine.get_item(q)),
        "PutItem" => run(body, |q| engine.put_item(q)),
        "UpdateItem" => run(body, |q| engine.update_item(q)),
        "DeleteItem" => run(body, |q| engine.delete_item(q)),
        "Query" => run(body, |q| engine.query(q)),
        "Scan" => run(body, |q| engine.scan(q)),
        "BatchGetItem" => run(body, |q| engine.batch_get_item(q)),
        "BatchWriteItem" => run(body, |q| engine.batch_write_item(q)),
        "TransactGetItems" => run(body, |q| engine.transact_get_items(q)),
        "TransactWriteItems" => run(body, |q| engine.transact_write_items(q)),
        "UpdateTimeToLive" => run(body, |q| engine.update_time_to_live(q)),
        "DescribeTimeToLive" => run(body, |q| engine.describe_time_to_live(q)),
        "TagResource" => run(body, |q| engine.tag_resource(q)),
        "UntagResource" => run(body, |q| engine.untag_resource(q)),
        "ListTagsOfResource" => run(body, |q| engine.list_tags_of_resource(q)),
        other => Err(unknown_operation(other)),
    }
}

/// DynamoDB's answer to an operation it does not have. The engine has no
/// error for it: it is the service's, not a table's.
fn unknown_operation(operation: &str) -> DynoxideError {
    DynoxideError::ValidationException(format!(
        "UnknownOperationException: this emulator's DynamoDB does not implement {operation}"
    ))
}

/// The request in the engine's type. The engine's decoders say which of
/// DynamoDB's two errors a bad field is with a word at the start of their
/// message (`VALIDATION...:` or `SERIALIZATION...:`); serde_json adds where
/// in the body it was. Neither belongs in the answer.
fn decode<Q: DeserializeOwned>(body: &str) -> Result<Q, DynoxideError> {
    serde_json::from_str(body).map_err(|err| {
        let text = err.to_string();
        let text = text
            .rsplit_once(" at line ")
            .map_or(text.as_str(), |(message, _)| message);
        let classified = text.split_once(':').filter(|(word, _)| {
            word.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                && (word.starts_with("VALIDATION") || word.starts_with("SERIALIZATION"))
        });
        match classified {
            Some((word, message)) if word.starts_with("VALIDATION") => {
                DynoxideError::ValidationException(message.to_owned())
            }
            Some((_, message)) => DynoxideError::SerializationException(message.to_owned()),
            // A missing member, an unknown enum value or a null is a request
            // DynamoDB refuses as invalid; anything else it could not read.
            None if ["missing field", "unknown variant", "invalid type: null"]
                .iter()
                .any(|kind| text.contains(kind)) =>
            {
                DynoxideError::ValidationException(text.to_owned())
            }
            None => DynoxideError::SerializationException(text.to_owned()),
        }
    })
}

fn answer(outcome: Result<String, DynoxideError>) -> Response<Body> {
    let (status, body) = match outcome {
        Ok(json) => (StatusCode::OK, json),
        Err(DynoxideError::ValidationException(message))
            if message.starts_with("UnknownOperationException: ") =>
        {
            (
                StatusCode::BAD_REQUEST,
                serde_json::json!({
                    "__type": "com.amazon.coral.service#UnknownOperationException",
                    "message": &message["UnknownOperationException: ".len()..],
                })
                .to_string(),
            )
        }
        Err(err) => (
            StatusCode::from_u16(err.status_code()).unwrap_or(StatusCode::BAD_REQUEST),
            err.to_json(),
        ),
    };
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/x-amz-json-1.0")
        .body(Body::from(body))
        .expect("a JSON response is valid")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_request_is_a_validation_or_a_serialization_error_without_positions() {
        let missing = decode::<dynoxide::actions::get_item::GetItemRequest>(r#"{"Key": {}}"#).unwrap_err();
        assert!(
            matches!(missing, DynoxideError::ValidationException(_)),
            "{missing:?}"
        );
        assert!(!missing.to_string().contains(" at line "), "{missing}");
        let not_json = decode::<dynoxide::actions::get_item::GetItemRequest>("{").unwrap_err();
        assert!(
            matches!(not_json, DynoxideError::SerializationException(_)),
            "{not_json:?}"
        );
    }
}
