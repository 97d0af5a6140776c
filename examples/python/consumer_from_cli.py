"""Lab step 1.3: print every record of a Kinesis stream, from its oldest.

    python consumer_from_cli.py --stream NAME

It lists the shards (every page of them), takes an iterator at TRIM_HORIZON
in each, then reads each shard in turn, forever: up to 200 records a read,
printed one a line, then the shard's next iterator. A second between passes
keeps it within Kinesis's five reads a second per shard. Ctrl+C stops it.
"""

import argparse
import time

import boto3


def list_shards(kinesis, stream):
    shards, token = [], None
    while True:
        page = kinesis.list_shards(NextToken=token) if token else kinesis.list_shards(StreamName=stream)
        shards.extend(page["Shards"])
        token = page.get("NextToken")
        if not token:
            return shards


def main():
    parser = argparse.ArgumentParser(description="Print every record of a Kinesis stream.")
    parser.add_argument("--stream", required=True, help="the stream to read")
    args = parser.parse_args()

    kinesis = boto3.client("kinesis")
    iterators = {}
    for shard in list_shards(kinesis, args.stream):
        response = kinesis.get_shard_iterator(
            StreamName=args.stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
        iterators[shard["ShardId"]] = response["ShardIterator"]

    try:
        while iterators:
            for shard_id, iterator in list(iterators.items()):
                response = kinesis.get_records(ShardIterator=iterator, Limit=200)
                for record in response["Records"]:
                    data = record["Data"].decode("utf-8")
                    print(f"{shard_id} {record['SequenceNumber']} {record['PartitionKey']} {data}")
                # A closed shard that has been read to its end has no next iterator.
                if response.get("NextShardIterator"):
                    iterators[shard_id] = response["NextShardIterator"]
                else:
                    del iterators[shard_id]
            time.sleep(1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
