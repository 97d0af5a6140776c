"""The lab's part 2 with boto3, against the kinesis-lab emulator.

Written the way the lab's own code is: create the destination streams and
buckets, the two Firehose delivery streams from the streams to the buckets, then
put sessions on the streams and wait for Firehose to deliver them. The only
change from running on AWS is the endpoint.

    python3 lab_part2_boto3.py --endpoint-url http://127.0.0.1:4566 [--interval 5]
"""

import argparse
import json
import sys
import time

import boto3
from botocore.exceptions import ClientError

parser = argparse.ArgumentParser()
parser.add_argument("--endpoint-url", default="http://127.0.0.1:4566")
parser.add_argument("--interval", type=int, default=5, help="Firehose IntervalInSeconds (the lab uses 60)")
args = parser.parse_args()

session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
kinesis = session.client("kinesis", endpoint_url=args.endpoint_url)
firehose = session.client("firehose", endpoint_url=args.endpoint_url)
s3 = session.client("s3", endpoint_url=args.endpoint_url)
sts_account = "000000000000"  # the emulator's account; on AWS: sts.get_caller_identity()["Account"]

routes = {
    "usa": ("de-c2w2lab1-usa-data-stream", f"de-c2w2lab1-{sts_account}-usa"),
    "international": ("de-c2w2lab1-international-data-stream", f"de-c2w2lab1-{sts_account}-int"),
}
role = f"arn:aws:iam::{sts_account}:role/de-c2w2lab1-firehose-role"

for region, (stream, bucket) in routes.items():
    if stream not in kinesis.list_streams()["StreamNames"]:
        kinesis.create_stream(StreamName=stream, ShardCount=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream)
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError as err:
        if err.response["Error"]["Code"] != "BucketAlreadyOwnedByYou":
            raise
    name = f"de-c2w2lab1-firehose-{region}"
    if name in firehose.list_delivery_streams()["DeliveryStreamNames"]:
        continue
    stream_arn = kinesis.describe_stream(StreamName=stream)["StreamDescription"]["StreamARN"]
    firehose.create_delivery_stream(
        DeliveryStreamName=name,
        DeliveryStreamType="KinesisStreamAsSource",
        KinesisStreamSourceConfiguration={"KinesisStreamARN": stream_arn, "RoleARN": role},
        S3DestinationConfiguration={
            "RoleARN": role,
            "BucketARN": f"arn:aws:s3:::{bucket}",
            "Prefix": "firehose/",
            "ErrorOutputPrefix": "errors/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": args.interval},
            "CompressionFormat": "UNCOMPRESSED",
            "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
            "CloudWatchLoggingOptions": {
                "Enabled": True,
                "LogGroupName": f"de-c2w2lab1-firehose-{region}-log-group",
                "LogStreamName": f"de-c2w2lab1-{region}-firehose-log-stream",
            },
        },
    )
    while firehose.describe_delivery_stream(DeliveryStreamName=name)["DeliveryStreamDescription"]["DeliveryStreamStatus"] != "ACTIVE":
        time.sleep(0.5)
    print(f"{name}: ACTIVE, {stream} -> s3://{bucket}/firehose/")

# Session ids unique to this run, so that a rerun checks its own records.
run = int(time.time() * 1000)
sent = {}
for region, (stream, _) in routes.items():
    sessions = [{"session_id": f"{region}-{run}-{i}", "country": "USA" if region == "usa" else "France"} for i in range(3)]
    for record in sessions:
        kinesis.put_record(StreamName=stream, Data=json.dumps(record), PartitionKey=record["session_id"])
    sent[region] = sessions

deadline = time.time() + args.interval + 30
for region, (_, bucket) in routes.items():
    while True:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="firehose/").get("Contents", [])]
        bodies = b"".join(s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys)
        decoder, text, got = json.JSONDecoder(), bodies.decode(), []
        while text:
            record, end = decoder.raw_decode(text)
            got.append(record)
            text = text[end:]
        ours = [r for r in got if str(r.get("session_id", "")).startswith(f"{region}-{run}-")]
        if sorted(r["session_id"] for r in ours) == sorted(r["session_id"] for r in sent[region]):
            print(f"s3://{bucket}: {len(keys)} object(s), this run's {len(ours)} records delivered once each")
            break
        if time.time() > deadline:
            sys.exit(f"s3://{bucket}: expected this run's {len(sent[region])} records, found {len(ours)}")
        time.sleep(0.5)
print("lab part 2 with boto3: ok")
