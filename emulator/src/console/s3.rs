//! S3: the buckets, the objects under a prefix, and one object's records, as
//! the lab ends by looking at them (Firehose concatenates records with
//! nothing between them; the object page splits them and shows each).

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata};
use http::{Response, StatusCode, header};
use maud::html;

use super::{Console, Page, Refusal, encode, layout};
use axum::body::Body;

/// How many objects a listing page shows.
const PAGE: i32 = 200;

pub async fn buckets(console: &Console<'_>) -> Page {
    let listed = console.clients.s3.list_buckets().send().await.map_err(s3_error)?;
    let content = html! {
        table {
            tr { th { "Bucket" } th { "Created" } }
            @for bucket in listed.buckets() {
                @let name = bucket.name().unwrap_or_default();
                tr {
                    td { a href={ "/_console/s3/" (encode(name)) } { (name) } }
                    td { (bucket.creation_date().map(|d| d.to_string()).unwrap_or_default()) }
                }
            }
        }
        @if listed.buckets().is_empty() {
            p.muted { "No buckets yet." }
        }
    };
    Ok(layout("S3 buckets", None, content))
}

/// The objects of a bucket under `?prefix=`, newest first.
pub async fn objects(console: &Console<'_>, bucket: &str, query: &str) -> Page {
    let prefix = query_value(query, "prefix").unwrap_or_default();
    let listed = console
        .clients
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(&prefix)
        .max_keys(PAGE)
        .send()
        .await
        .map_err(s3_error)?;
    let mut objects: Vec<_> = listed.contents().iter().collect();
    objects.sort_by_key(|object| std::cmp::Reverse(object.last_modified().map(|t| t.secs())));
    let content = html! {
        form method="get" action={ "/_console/s3/" (encode(bucket)) } {
            "Prefix " input name="prefix" value=(prefix) size="50"; " " button type="submit" { "List" }
        }
        table {
            tr { th { "Key" } th { "Size (bytes)" } th { "Last modified" } }
            @for object in &objects {
                @let key = object.key().unwrap_or_default();
                tr {
                    td { a href=(object_link(bucket, key)) { (key) } }
                    td { (object.size().unwrap_or_default()) }
                    td { (object.last_modified().map(|d| d.to_string()).unwrap_or_default()) }
                }
            }
        }
        @if objects.is_empty() {
            p.muted { "No objects under this prefix yet. Firehose writes once its buffer's interval has passed." }
        }
        @if listed.is_truncated() == Some(true) {
            p.muted { "The first " (PAGE) " keys; narrow the prefix to see others." }
        }
    };
    Ok(layout(&format!("s3://{bucket}/{prefix}"), Some(3), content))
}

/// One object: its records one by one, or with `?download` its bytes.
pub async fn object(console: &Console<'_>, bucket: &str, key: &str, query: &str) -> Page {
    let got = console
        .clients
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(s3_error)?;
    let body = got
        .body
        .collect()
        .await
        .map_err(|err| Refusal::new(StatusCode::BAD_GATEWAY, format!("cannot read the object: {err}")))?
        .into_bytes();
    if query_value(query, "download").is_some() {
        let file = key.rsplit('/').next().unwrap_or("object").replace('"', "");
        return Ok(Response::builder()
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .header(
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file}\""),
            )
            .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
            .body(Body::from(body))
            .expect("a valid response"));
    }
    let (records, rest) = split_records(&body);
    let content = html! {
        p {
            (body.len()) " bytes · " (records.len()) " records · "
            a href={ (object_link(bucket, key)) "?download" } { "Download" }
        }
        @for (index, record) in records.iter().enumerate() {
            h3 { "Record " (index + 1) }
            pre { (serde_json::to_string_pretty(record).unwrap_or_default()) }
        }
        @if !rest.is_empty() {
            h3 { "Not JSON records" }
            p.muted { "What follows the last JSON record (compressed data, or text), as it is:" }
            pre { (String::from_utf8_lossy(rest)) }
        }
    };
    Ok(layout(&format!("s3://{bucket}/{key}"), None, content))
}

/// The JSON records at the start of an object, and whatever follows them.
pub fn split_records(body: &[u8]) -> (Vec<serde_json::Value>, &[u8]) {
    let mut records = Vec::new();
    let mut stream = serde_json::Deserializer::from_slice(body).into_iter::<serde_json::Value>();
    let mut end = 0;
    while let Some(Ok(record)) = stream.next() {
        end = stream.byte_offset();
        records.push(record);
    }
    let rest = &body[end..];
    let rest = if rest.iter().all(u8::is_ascii_whitespace) {
        &[][..]
    } else {
        rest
    };
    (records, rest)
}

fn object_link(bucket: &str, key: &str) -> String {
    let key: Vec<String> = key.split('/').map(encode).collect();
    format!("/_console/s3/{}/{}", encode(bucket), key.join("/"))
}

fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn s3_error<E: ProvideErrorMetadata + std::error::Error + 'static>(
    err: aws_sdk_s3::error::SdkError<E>,
) -> Refusal {
    let status = match err.code() {
        Some("NoSuchBucket" | "NoSuchKey") => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_GATEWAY,
    };
    let message = err
        .message()
        .map_or_else(|| DisplayErrorContext(&err).to_string(), str::to_owned);
    Refusal::new(status, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenated_records_are_split_and_the_rest_kept() {
        let (records, rest) = split_records(br#"{"a":1}{"b":"<script>"}  "#);
        assert_eq!(records.len(), 2);
        assert!(rest.is_empty());
        let (records, rest) = split_records(b"{\"a\":1}\x1f\x8b junk");
        assert_eq!(records.len(), 1);
        assert_eq!(rest, b"\x1f\x8b junk");
    }
}
