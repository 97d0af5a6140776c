"""The lab's streaming ETL loop (lab step 2.2) in Python with boto3, for the
ETL benchmark (benches/etl.rs) to run beside `kinesis-lab etl`.

It does what the lab's consumer does with each record, with the lab's
per-record calls: GetRecords on each shard in turn, json.loads, the four keys,
json.dumps, and one PutRecord to the USA or the international stream. The
lab's loop sleeps between passes; this one does not, so that what it measures
is the loop itself. It stops once it has moved COUNT records and prints how
many it moved and in how many seconds, from its first record to its last.

    python lab_etl.py SOURCE USA_STREAM INTERNATIONAL_STREAM COUNT

The endpoint, region and credentials come from the environment
(AWS_ENDPOINT_URL and the rest), as for any boto3 program.
"""

import json
import sys
import time

import boto3

# The same enrichment as the enrich benchmark's: the lab's steps 2.2.3 to 2.2.7.
from lab_enrich import enrich


def main():
    source, usa, international, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    kinesis = boto3.client("kinesis")
    shards = kinesis.list_shards(StreamName=source)["Shards"]
    iterators = [
        kinesis.get_shard_iterator(
            StreamName=source, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        for shard in shards
    ]
    moved = 0
    started = None
    while moved < count:
        for index, iterator in enumerate(iterators):
            response = kinesis.get_records(ShardIterator=iterator, Limit=1000)
            iterators[index] = response["NextShardIterator"]
            for record in response["Records"]:
                if started is None:
                    started = time.perf_counter()
                session = enrich(json.loads(record["Data"]))
                destination = usa if session["country"] == "USA" else international
                kinesis.put_record(
                    StreamName=destination,
                    Data=json.dumps(session),
                    PartitionKey=session["session_id"],
                )
                moved += 1
    print(f"{moved} {time.perf_counter() - started:.3f}")


if __name__ == "__main__":
    main()
