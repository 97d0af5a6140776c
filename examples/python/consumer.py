"""Lab step 2.2: the streaming ETL. Enrich each user session and route it.

    python consumer.py --source_stream NAME \
        --dest_streams '{"USA": "usa-stream", "International": "international-stream"}'

It reads every shard of the source stream from its oldest record, as the
part 1 consumer does (a pass every 2 s). Each session gets four keys, after
its own (steps 2.2.3 to 2.2.7), and goes to the USA stream when its country
is "USA", else to the international one (step 2.2.8), partition key
session_id. A record it cannot handle is reported and skipped, so one bad
record never stops the others. Ctrl+C stops it.
"""

import argparse
import datetime
import json
import time

import boto3


def enrich(record):
    """The session with the lab's four keys appended, in the lab's order."""
    history = record["browse_history"]
    # The producer sends quantities as strings ("3") or as numbers (3).
    record["processing_timestamp"] = datetime.datetime.now().isoformat()
    record["overall_product_quantity"] = sum(int(item["quantity"]) for item in history)
    record["overall_in_shopping_cart"] = sum(int(item["quantity"]) for item in history if item["in_shopping_cart"])
    record["total_different_products"] = len(history)
    return record


def route(record, destinations):
    """The stream a session goes to: USA sessions to one, the rest to the other."""
    if record["country"] == "USA":
        return destinations["USA"]
    return destinations["International"]


def list_shards(kinesis, stream):
    shards, token = [], None
    while True:
        page = kinesis.list_shards(NextToken=token) if token else kinesis.list_shards(StreamName=stream)
        shards.extend(page["Shards"])
        token = page.get("NextToken")
        if not token:
            return shards


def main():
    parser = argparse.ArgumentParser(description="Enrich the sessions of a stream and route them by country.")
    parser.add_argument("--source_stream", required=True, help="the stream of sessions to read")
    parser.add_argument("--dest_streams", required=True, help='{"USA": stream, "International": stream}')
    args = parser.parse_args()
    destinations = json.loads(args.dest_streams)

    kinesis = boto3.client("kinesis")
    iterators = {}
    for shard in list_shards(kinesis, args.source_stream):
        response = kinesis.get_shard_iterator(
            StreamName=args.source_stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
        iterators[shard["ShardId"]] = response["ShardIterator"]

    try:
        while iterators:
            for shard_id, iterator in list(iterators.items()):
                response = kinesis.get_records(ShardIterator=iterator, Limit=200)
                for record in response["Records"]:
                    try:
                        session = enrich(json.loads(record["Data"]))
                        kinesis.put_record(
                            StreamName=route(session, destinations),
                            Data=json.dumps(session).encode("utf-8"),
                            PartitionKey=str(session["session_id"]),
                        )
                    except Exception as error:  # one bad record must not stop the rest
                        print(f"skipped record {record['SequenceNumber']} of {shard_id}: {error!r}")
                if response.get("NextShardIterator"):
                    iterators[shard_id] = response["NextShardIterator"]
                else:
                    del iterators[shard_id]
            time.sleep(2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
