#!/usr/bin/env bash
# CloudWatch Logs and metrics with the AWS CLI (v1 or v2) and boto3, against
# the kinesis-lab emulator: what a learner types to find a Firehose error and
# to read a stream's metrics. The only change from AWS is --endpoint-url.
#
#   bash cloudwatch_awscli.sh http://127.0.0.1:4566
set -euo pipefail
endpoint=${1:-http://127.0.0.1:4566}
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
aws() { command aws --endpoint-url "$endpoint" "$@"; }
group=compat-cloudwatch-log-group
stream=compat-cloudwatch-log-stream

# Logs: a group, a stream, events, read back and found (after a run that
# stopped half-way on a durable data directory, the group is there already).
aws logs delete-log-group --log-group-name "$group" 2>/dev/null || true
aws logs create-log-group --log-group-name "$group"
if aws logs create-log-group --log-group-name "$group" 2>/tmp/compat-logs-err; then
  echo "a second create-log-group was accepted" >&2; exit 1
fi
grep -q ResourceAlreadyExistsException /tmp/compat-logs-err
aws logs create-log-stream --log-group-name "$group" --log-stream-name "$stream"
now=$(($(date +%s) * 1000))
aws logs put-log-events --log-group-name "$group" --log-stream-name "$stream" \
  --log-events "[{\"timestamp\": $now, \"message\": \"{\\\"errorCode\\\":\\\"S3.NoSuchBucket\\\"}\"},
                 {\"timestamp\": $((now + 1)), \"message\": \"fine\"}]" >/dev/null
[ "$(aws logs describe-log-groups --log-group-name-prefix compat- --query 'length(logGroups)' --output text)" = 1 ]
aws logs get-log-events --log-group-name "$group" --log-stream-name "$stream" --start-from-head \
  --query 'events[].message' --output text | grep -q S3.NoSuchBucket
[ "$(aws logs filter-log-events --log-group-name "$group" --filter-pattern NoSuchBucket \
      --query 'length(events)' --output text)" = 1 ]
if command aws --version 2>&1 | grep -q '^aws-cli/2'; then
  aws logs tail "$group" --since 1h | grep -q NoSuchBucket
fi
aws logs delete-log-group --log-group-name "$group"

# Metrics: botocore sends CloudWatch as AWS JSON 1.0 (the model's protocols).
aws cloudwatch put-metric-data --namespace Compat/Lab --metric-name Sent --value 4 --dimensions Stream=source
aws cloudwatch put-metric-data --namespace Compat/Lab --metric-name Sent --value 6 --dimensions Stream=source
[ "$(aws cloudwatch list-metrics --namespace Compat/Lab --query 'Metrics[0].MetricName' --output text)" = Sent ]
start=$(date -u -d '-10 min' +%Y-%m-%dT%H:%M:%SZ)
end=$(date -u -d '+1 min' +%Y-%m-%dT%H:%M:%SZ)
sum=$(aws cloudwatch get-metric-statistics --namespace Compat/Lab --metric-name Sent \
        --dimensions Name=Stream,Value=source --start-time "$start" --end-time "$end" --period 3600 \
        --statistics Sum --query 'Datapoints[0].Sum' --output text)
[ "$sum" = 10.0 ] || { echo "get-metric-statistics summed $sum, not 10.0" >&2; exit 1; }

python3 - "$endpoint" <<'PY'
import datetime, sys
import boto3
session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
cloudwatch = session.client("cloudwatch", endpoint_url=sys.argv[1])
logs = session.client("logs", endpoint_url=sys.argv[1])
cloudwatch.put_metric_data(Namespace="Compat/Boto3", MetricData=[{"MetricName": "Sent", "Value": 3.0, "Unit": "Count"}])
now = datetime.datetime.now(datetime.timezone.utc)
points = cloudwatch.get_metric_statistics(
    Namespace="Compat/Boto3", MetricName="Sent", StartTime=now - datetime.timedelta(minutes=10),
    EndTime=now + datetime.timedelta(minutes=1), Period=60, Statistics=["Sum", "SampleCount"])["Datapoints"]
assert points and points[0]["Sum"] == 3.0, points
assert cloudwatch.list_metrics(Namespace="Compat/Boto3")["Metrics"][0]["MetricName"] == "Sent"
try:
    logs.get_log_events(logGroupName="no-such-group", logStreamName="s")
    raise SystemExit("get_log_events on a missing group succeeded")
except logs.exceptions.ResourceNotFoundException:
    pass
print("boto3: CloudWatch and CloudWatch Logs answer as AWS does")
PY
echo "the AWS CLI and boto3 used CloudWatch Logs and metrics against the emulator"
