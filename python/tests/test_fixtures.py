"""The pytest fixtures, used as a project's tests would use them: boto3 with
no endpoint in the code, as against AWS."""

from __future__ import annotations

import json
import os
import time
from typing import Callable

import boto3
import pytest

import kinesis_lab


def test_a_record_put_on_kinesis_is_read_back(kinesis_lab: kinesis_lab.Emulator) -> None:
    kinesis = boto3.client("kinesis")
    kinesis.create_stream(StreamName="fixtures-orders", ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName="fixtures-orders", WaiterConfig={"Delay": 0.1})
    put = kinesis.put_record(StreamName="fixtures-orders", Data=b'{"order": 1}', PartitionKey="1")
    iterator = kinesis.get_shard_iterator(
        StreamName="fixtures-orders", ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis.get_records(ShardIterator=iterator)["Records"]
    assert [record["Data"] for record in records] == [b'{"order": 1}']
    assert records[0]["SequenceNumber"] == put["SequenceNumber"]


def test_firehose_delivers_to_s3(kinesis_lab_fresh: kinesis_lab.Emulator) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="deliveries")
    firehose = boto3.client("firehose")
    firehose.create_delivery_stream(
        DeliveryStreamName="to-s3",
        DeliveryStreamType="DirectPut",
        ExtendedS3DestinationConfiguration={
            "RoleARN": "arn:aws:iam::000000000000:role/firehose",
            "BucketARN": "arn:aws:s3:::deliveries",
            "Prefix": "orders/",
            "BufferingHints": {"SizeInMBs": 1, "IntervalInSeconds": 0},
        },
    )
    wait_for(lambda: firehose.describe_delivery_stream(DeliveryStreamName="to-s3")["DeliveryStreamDescription"][
        "DeliveryStreamStatus"
    ] == "ACTIVE")
    firehose.put_record_batch(
        DeliveryStreamName="to-s3",
        Records=[{"Data": json.dumps({"order": n}).encode()} for n in range(3)],
    )
    wait_for(lambda: s3.list_objects_v2(Bucket="deliveries").get("KeyCount", 0) > 0)
    key = s3.list_objects_v2(Bucket="deliveries")["Contents"][0]["Key"]
    assert key.startswith("orders/")
    body = s3.get_object(Bucket="deliveries", Key=key)["Body"].read()
    assert body == b'{"order": 0}{"order": 1}{"order": 2}'
    # And on disk, where the fresh emulator keeps it.
    assert (kinesis_lab_fresh.data_dir / "s3" / "deliveries").is_dir()


def test_the_session_emulator_leaves_the_environment_alone(
    kinesis_lab_emulator: kinesis_lab.Emulator,
) -> None:
    assert os.environ.get("AWS_ENDPOINT_URL") != kinesis_lab_emulator.endpoint_url
    assert kinesis_lab_emulator.healthy()


@pytest.fixture
def stray_kinesis_endpoint(monkeypatch: pytest.MonkeyPatch) -> str:
    """A per-service endpoint left in the environment, as a shell profile
    might leave one: set before the kinesis_lab fixture runs."""
    elsewhere = "http://127.0.0.1:9"
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", elsewhere)
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    return elsewhere


def test_aws_endpoint_url_kinesis_set_before_the_fixture_is_the_emulator_in_the_test(
    stray_kinesis_endpoint: str, kinesis_lab: kinesis_lab.Emulator
) -> None:
    kinesis = boto3.client("kinesis")
    assert kinesis.meta.endpoint_url == kinesis_lab.endpoint_url
    assert "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" not in os.environ
    kinesis.list_streams()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time given"
        time.sleep(0.1)
