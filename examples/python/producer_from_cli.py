"""Lab steps 1.4 and 1.5: put one session on a Kinesis stream.

    python producer_from_cli.py --stream NAME --json_string '{"session_id": "a1", ...}'

The partition key is the session's own id, so that Kinesis keeps the records
of one session in order on one shard. The endpoint, the credentials and the
region come from the environment (AWS_ENDPOINT_URL and the others), so the
same code runs against AWS, LocalStack or the kinesis-lab emulator.
"""

import argparse
import json

import boto3


def main():
    parser = argparse.ArgumentParser(description="Put one JSON record on a Kinesis stream.")
    parser.add_argument("--stream", required=True, help="the stream to put the record on")
    parser.add_argument("--json_string", required=True, help="the record, a JSON object with a session_id")
    args = parser.parse_args()

    record = json.loads(args.json_string)
    kinesis = boto3.client("kinesis")
    response = kinesis.put_record(
        StreamName=args.stream,
        Data=json.dumps(record).encode("utf-8"),
        PartitionKey=str(record["session_id"]),
    )
    print(f"Produced record {response['SequenceNumber']} to Shard {response['ShardId']}")


if __name__ == "__main__":
    main()
