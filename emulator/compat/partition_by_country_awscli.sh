#!/usr/bin/env bash
# Dynamic partitioning with the AWS CLI: Firehose itself routes the lab's
# sessions by country, a JQ query giving each record its partition key. What
# the lab's ETL does with two streams, done here by one delivery stream.
#
#   bash partition_by_country_awscli.sh http://127.0.0.1:4566
set -euo pipefail
endpoint=${1:-http://127.0.0.1:4566}
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
aws() { command aws --endpoint-url "$endpoint" "$@"; }
account=000000000000
role=arn:aws:iam::$account:role/de-c2w2lab1-firehose-role
stream=sessions-by-country
bucket=sessions-by-country-$account
firehose=sessions-by-country

aws kinesis create-stream --stream-name "$stream" --shard-count 1
aws kinesis wait stream-exists --stream-name "$stream"
aws s3 mb "s3://$bucket"
# With dynamic partitioning AWS wants buffers of 64 MiB or more and an
# ErrorOutputPrefix; the interval of 0 delivers within seconds.
aws firehose create-delivery-stream --delivery-stream-name "$firehose" \
  --delivery-stream-type KinesisStreamAsSource \
  --kinesis-stream-source-configuration "KinesisStreamARN=arn:aws:kinesis:us-east-1:$account:stream/$stream,RoleARN=$role" \
  --extended-s3-destination-configuration "{\"RoleARN\": \"$role\", \"BucketARN\": \"arn:aws:s3:::$bucket\",
    \"Prefix\": \"country=!{partitionKeyFromQuery:country}/\",
    \"ErrorOutputPrefix\": \"errors/!{firehose:error-output-type}/\",
    \"BufferingHints\": {\"SizeInMBs\": 64, \"IntervalInSeconds\": 0},
    \"DynamicPartitioningConfiguration\": {\"Enabled\": true},
    \"ProcessingConfiguration\": {\"Enabled\": true, \"Processors\": [
      {\"Type\": \"MetadataExtraction\", \"Parameters\": [
        {\"ParameterName\": \"MetadataExtractionQuery\", \"ParameterValue\": \"{country: .country}\"},
        {\"ParameterName\": \"JsonParsingEngine\", \"ParameterValue\": \"JQ-1.6\"}]},
      {\"Type\": \"AppendDelimiterToRecord\"}]}}"
until [ "$(aws firehose describe-delivery-stream --delivery-stream-name "$firehose" \
           --query DeliveryStreamDescription.DeliveryStreamStatus --output text)" = ACTIVE ]; do sleep 0.5; done

binary_format=()
if command aws --version 2>&1 | grep -q '^aws-cli/2'; then binary_format=(--cli-binary-format raw-in-base64-out); fi
for record in '{"session_id": "a1", "country": "USA"}' '{"session_id": "b2", "country": "France"}' \
              '{"session_id": "c3"}'; do
  aws kinesis put-record --stream-name "$stream" --partition-key p "${binary_format[@]}" --data "$record" >/dev/null
done

# Each partition is its own object; the session without a country is an error record.
expect() {
  local prefix=$1 text=$2 keys=""
  for _ in $(seq 30); do
    keys=$(aws s3 ls --recursive "s3://$bucket/$prefix" | awk '{print $4}') || true
    [ -n "$keys" ] && break
    sleep 1
  done
  [ -n "$keys" ] || { echo "nothing delivered under s3://$bucket/$prefix" >&2; exit 1; }
  body=$(for key in $keys; do aws s3 cp "s3://$bucket/$key" -; done)
  echo "$prefix: $body"
  grep -q "$text" <<<"$body" || { echo "$text is not under $prefix" >&2; exit 1; }
}
expect country=USA/ '"session_id": "a1"'
expect country=France/ '"session_id": "b2"'
expect errors/partitioning-failed/ 'DynamicPartitioning.MetadataExtractionFailed'
echo "dynamic partitioning with the AWS CLI: ok"
