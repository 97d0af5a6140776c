#!/usr/bin/env bash
# The lab's part 2 with the AWS CLI (v1 from `pip install awscli`, or v2),
# against the kinesis-lab emulator. The only change from AWS is --endpoint-url.
#
#   bash lab_part2_awscli.sh http://127.0.0.1:4566 [interval-seconds]
set -euo pipefail
endpoint=${1:-http://127.0.0.1:4566}
interval=${2:-5}
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
aws() { command aws --endpoint-url "$endpoint" "$@"; }
account=000000000000
role=arn:aws:iam::$account:role/de-c2w2lab1-firehose-role
stream=de-c2w2lab1-usa-data-stream
bucket=de-c2w2lab1-$account-usa
firehose=de-c2w2lab1-firehose-usa

aws kinesis create-stream --stream-name "$stream" --shard-count 2
aws kinesis wait stream-exists --stream-name "$stream"
aws s3 mb "s3://$bucket"
aws firehose create-delivery-stream --delivery-stream-name "$firehose" \
  --delivery-stream-type KinesisStreamAsSource \
  --kinesis-stream-source-configuration "KinesisStreamARN=arn:aws:kinesis:us-east-1:$account:stream/$stream,RoleARN=$role" \
  --s3-destination-configuration "{\"RoleARN\": \"$role\", \"BucketARN\": \"arn:aws:s3:::$bucket\",
    \"Prefix\": \"firehose/\", \"ErrorOutputPrefix\": \"errors/\",
    \"BufferingHints\": {\"SizeInMBs\": 1, \"IntervalInSeconds\": $interval},
    \"CompressionFormat\": \"UNCOMPRESSED\", \"EncryptionConfiguration\": {\"NoEncryptionConfig\": \"NoEncryption\"},
    \"CloudWatchLoggingOptions\": {\"Enabled\": true, \"LogGroupName\": \"de-c2w2lab1-firehose-usa-log-group\",
                                   \"LogStreamName\": \"de-c2w2lab1-usa-firehose-log-stream\"}}"
until [ "$(aws firehose describe-delivery-stream --delivery-stream-name "$firehose" \
           --query DeliveryStreamDescription.DeliveryStreamStatus --output text)" = ACTIVE ]; do sleep 0.5; done

# AWS CLI v2 wants base64 here unless told otherwise; v1 sends the text as it is.
binary_format=()
if command aws --version 2>&1 | grep -q '^aws-cli/2'; then binary_format=(--cli-binary-format raw-in-base64-out); fi
for id in a1 b2 c3; do
  aws kinesis put-record --stream-name "$stream" --partition-key "$id" "${binary_format[@]}" \
    --data "{\"session_id\": \"$id\", \"country\": \"USA\"}" >/dev/null
done

for _ in $(seq $((interval * 2 + 30))); do
  # `aws s3 ls` exits 1 while there is nothing to list.
  keys=$(aws s3 ls --recursive "s3://$bucket/firehose/" | awk '{print $4}') || true
  [ -n "$keys" ] && break
  sleep 1
done
[ -n "$keys" ] || { echo "nothing delivered to s3://$bucket/firehose/" >&2; exit 1; }
echo "$keys"
body=$(for key in $keys; do aws s3 cp "s3://$bucket/$key" -; done)
echo "$body"
for id in a1 b2 c3; do
  grep -q "\"session_id\": \"$id\"" <<<"$body" || { echo "record $id was not delivered" >&2; exit 1; }
done
echo "lab part 2 with the AWS CLI: ok"

# Issue 30: the USA bucket deleted while part 2 runs. Firehose logs each failed
# delivery to the stream's CloudWatch log group, as AWS does, and keeps the
# records; once the bucket is back, they land.
aws s3 rb --force "s3://$bucket" >/dev/null
for id in d4 e5; do
  aws kinesis put-record --stream-name "$stream" --partition-key "$id" "${binary_format[@]}" \
    --data "{\"session_id\": \"$id\", \"country\": \"USA\"}" >/dev/null
done
logged=''
for _ in $(seq $((interval * 2 + 30))); do
  logged=$(aws logs get-log-events --log-group-name de-c2w2lab1-firehose-usa-log-group \
    --log-stream-name de-c2w2lab1-usa-firehose-log-stream --start-from-head \
    --query 'events[].message' --output text 2>/dev/null) || true  # the group comes with the first failure
  grep -q '"errorCode": *"S3.NoSuchBucket"' <<<"$logged" && break
  sleep 1
done
grep -q '"errorCode": *"S3.NoSuchBucket"' <<<"$logged" ||
  { echo "no S3.NoSuchBucket event in the USA log group: $logged" >&2; exit 1; }
echo "a deleted bucket, in the log group: $(head -c 300 <<<"$logged")"
aws s3 mb "s3://$bucket" >/dev/null
for _ in $(seq $((interval * 2 + 30))); do
  body=$(for key in $(aws s3 ls --recursive "s3://$bucket/firehose/" | awk '{print $4}'); do
    aws s3 cp "s3://$bucket/$key" -; done) || true
  grep -q '"session_id": "d4"' <<<"$body" && grep -q '"session_id": "e5"' <<<"$body" && break
  sleep 1
done
for id in d4 e5; do
  grep -q "\"session_id\": \"$id\"" <<<"$body" ||
    { echo "record $id was lost while the bucket was gone" >&2; exit 1; }
done
echo "a deleted bucket logged as S3.NoSuchBucket, and nothing lost once it was back: ok"
