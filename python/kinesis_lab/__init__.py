"""kinesis-lab from Python.

Installing the package puts the `kinesis-lab` command on your PATH: the lab's
programs, the walkthrough (`kinesis-lab lab part2 --fast`) and the embedded
local AWS (`kinesis-lab emulator`), with no Rust toolchain and no Docker.

This module starts that emulator for your code and your tests, as moto's
`mock_aws` would, but with a real server: Kinesis, Firehose, DynamoDB and S3 over HTTP,
on a free loopback port.

    import boto3
    import kinesis_lab

    with kinesis_lab.emulator() as aws:
        kinesis = boto3.client("kinesis")  # AWS_ENDPOINT_URL points at aws.endpoint_url
        kinesis.create_stream(StreamName="orders", ShardCount=1)

With pytest, the fixtures `kinesis_lab` (the session's emulator, with the
environment pointing at it for the test), `kinesis_lab_fresh` (an emulator of
the test's own) and `kinesis_lab_emulator` (the session's, environment
untouched) come with the package: see `kinesis_lab.pytest_plugin`.
"""

from importlib.metadata import PackageNotFoundError, version

from ._emulator import HEALTH_PATH, TEST_CREDENTIALS, Emulator, EmulatorError, binary, emulator

try:
    __version__ = version("kinesis-lab")
except PackageNotFoundError:  # imported from a source tree, not installed
    __version__ = "0+unknown"

__all__ = [
    "HEALTH_PATH",
    "TEST_CREDENTIALS",
    "Emulator",
    "EmulatorError",
    "__version__",
    "binary",
    "emulator",
]
