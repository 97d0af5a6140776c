"""A KCL application, written with kcl-rs, that does what `kinesis-lab etl`
does in the simplest way the e2e tests need: each session read from the
source goes, unchanged, to the USA stream when its country is "USA" and to
the international one otherwise, partition key session_id. A batch is
checkpointed once every record of it is in.

It shares its lease table (the KCL application name) with `kinesis-lab etl
--lease-table` workers, so the tests (tests/e2e/kcl.rs) can watch both kinds
balance and take each other's leases. It says on stdout, one line each,
when it gains a shard ("gained SHARD"), loses one ("lost SHARD"), ends one
("ended SHARD") and stops ("stopped"); the tests read these lines.

Run by tests/e2e/kcl.rs with the venv it makes; see `--help`.
"""

import argparse
import json
import signal
import sys
import threading
import time

import boto3
from botocore.config import Config
from kcl_rs import CheckpointError, RecordProcessorBase, Scheduler


def say(line):
    # One line at a time, flushed: the test reads stdout as it is written.
    print(line, flush=True)


class Router:
    """Writes sessions to the stream their country routes them to."""

    def __init__(self, kinesis, usa, international):
        self.kinesis = kinesis
        self.usa = usa
        self.international = international

    def write(self, datas):
        by_stream = {self.usa: [], self.international: []}
        for data in datas:
            session = json.loads(data)
            stream = self.usa if session.get("country") == "USA" else self.international
            by_stream[stream].append({"Data": data, "PartitionKey": session["session_id"]})
        for stream, entries in by_stream.items():
            for start in range(0, len(entries), 500):
                self.put_all(stream, entries[start : start + 500])

    def put_all(self, stream, entries):
        # PutRecords may refuse some records (throttling): send those again,
        # with a short pause, until every one is in.
        pause = 0.05
        while entries:
            answer = self.kinesis.put_records(StreamName=stream, Records=entries)
            entries = [
                entry
                for entry, result in zip(entries, answer["Records"])
                if "ErrorCode" in result
            ]
            if entries:
                time.sleep(pause)
                pause = min(pause * 2, 1.0)


class Processor(RecordProcessorBase):
    """One shard's processor: made by the scheduler each time it takes a lease."""

    router = None

    def __init__(self):
        self.shard = None

    def initialize(self, initialize_input):
        self.shard = initialize_input.shard_id
        say(f"gained {self.shard} at {initialize_input.sequence_number}")

    def process_records(self, process_records_input):
        records = process_records_input.records
        if not records:
            return
        # The KCL does not deliver a batch again when this call raises (it
        # logs the error and goes on with the next), so a batch not written
        # is tried until it is in, as the ETL does.
        while True:
            try:
                self.router.write([record.binary_data for record in records])
                break
            except Exception as err:  # noqa: BLE001 - any failure: try again
                say(f"write failed on {self.shard}, trying again: {err}")
                time.sleep(1)
        try:
            process_records_input.checkpointer.checkpoint()
        except CheckpointError as err:
            # The lease went while the batch was written: the new holder
            # reads it again from the last checkpoint (at least once).
            say(f"checkpoint refused on {self.shard}: {err.value}")
            return
        say(f"wrote {len(records)} from {self.shard}")

    def lease_lost(self, lease_lost_input):
        say(f"lost {self.shard}")

    def shard_ended(self, shard_ended_input):
        shard_ended_input.checkpointer.checkpoint()
        say(f"ended {self.shard}")

    def shutdown_requested(self, shutdown_requested_input):
        # Every batch is checkpointed as soon as it is written; nothing to add.
        say(f"handed back {self.shard}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stream", required=True, help="the source stream")
    parser.add_argument("--lease-table", required=True, help="the KCL application name")
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--usa", required=True, help="where sessions from the USA go")
    parser.add_argument("--international", required=True, help="where the others go")
    parser.add_argument("--endpoint-url", required=True)
    parser.add_argument("--retrieval", choices=["POLLING", "FANOUT"], default="POLLING")
    args = parser.parse_args()

    kinesis = boto3.client(
        "kinesis",
        endpoint_url=args.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 10, "mode": "standard"}),
    )
    Processor.router = Router(kinesis, args.usa, args.international)
    polling = {}
    if args.retrieval == "POLLING":
        # The floor kcl-rs allows, so the test does not wait 1.5 s per read.
        polling = {"idle_time_between_reads_millis": 200}
    scheduler = Scheduler(
        stream_name=args.stream,
        application_name=args.lease_table,
        record_processor_factory=Processor,
        worker_identifier=args.worker_id,
        region="us-east-1",
        endpoint_url=args.endpoint_url,
        access_key_id="test",
        secret_access_key="test",
        initial_position="TRIM_HORIZON",
        retrieval_mode=args.retrieval,
        **polling,
    )

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    scheduler.start()
    say(f"started {args.worker_id}")
    while not stop.wait(0.2):
        pass
    scheduler.shutdown()
    say("stopped")


if __name__ == "__main__":
    sys.exit(main())
