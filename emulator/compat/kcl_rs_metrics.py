"""A kcl-rs worker (the KCL's Rust port, from PyPI) against the kinesis-lab
emulator: it reads a stream through a lease table, and publishes its metrics
to CloudWatch every few seconds as the Java KCL does. Before the emulator
served CloudWatch, each of those calls was refused and the worker logged a
warning every 10 s; now the metrics land and nothing is logged about them.

    python3 kcl_rs_metrics.py --endpoint-url http://127.0.0.1:4566
"""

import argparse
import os
import subprocess
import sys
import threading
import time

import boto3

parser = argparse.ArgumentParser()
parser.add_argument("--endpoint-url", default="http://127.0.0.1:4566")
parser.add_argument("--worker", action="store_true", help="run the worker itself (the parent reads its logs)")
args = parser.parse_args()
url = args.endpoint_url
session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
stream, app, records = "kcl-metrics-source", "kcl-metrics-app", 5

if args.worker:
    import kcl_rs

    seen = []

    class Processor(kcl_rs.RecordProcessorBase):
        def initialize(self, _input):
            pass

        def process_records(self, batch):
            seen.extend(batch.records)

        def lease_lost(self, _input):
            pass

        def shard_ended(self, ended):
            ended.checkpointer.checkpoint()

        def shutdown_requested(self, _input):
            pass

    scheduler = kcl_rs.Scheduler(
        stream_name=stream, application_name=app, record_processor_factory=Processor, worker_identifier="w1",
        region="us-east-1", endpoint_url=url, access_key_id="test", secret_access_key="test",
        initial_position="TRIM_HORIZON", retrieval_mode="POLLING", shard_sync_interval_millis=5000)
    threading.Thread(target=scheduler.start, daemon=True).start()
    deadline = time.time() + 90
    while time.time() < deadline and len(seen) < records:
        time.sleep(0.5)
    time.sleep(12)  # at least one more round of metrics
    print(f"records processed: {len(seen)}", flush=True)
    scheduler.shutdown()
    sys.exit(0 if len(seen) >= records else 1)

kinesis = session.client("kinesis", endpoint_url=url)
kinesis.create_stream(StreamName=stream, ShardCount=1)
kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 1})
for i in range(records):
    kinesis.put_record(StreamName=stream, PartitionKey=str(i), Data=f"record {i}".encode())
worker = subprocess.run(
    [sys.executable, __file__, "--endpoint-url", url, "--worker"],
    capture_output=True, text=True, timeout=150, env={**os.environ, "RUST_LOG": "warn", "NO_COLOR": "1"})
logs = worker.stdout + worker.stderr
complaints = [line for line in logs.splitlines() if "cloudwatch" in line.lower() or "metric" in line.lower()]
assert worker.returncode == 0, f"the worker did not process {records} records:\n{logs}"
assert not complaints, "the worker complained about CloudWatch:\n" + "\n".join(complaints)
published = session.client("cloudwatch", endpoint_url=url).list_metrics(Namespace=app)["Metrics"]
assert published, f"the worker published no metrics under {app}"
print(f"kcl-rs: {records} records processed, {len(published)} metrics published, no CloudWatch warning")
