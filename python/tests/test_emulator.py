"""kinesis_lab.emulator(): started, answering, pointed at, and stopped."""

from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path

import boto3
import pytest

import kinesis_lab


def port_open(url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((parts.hostname or "", parts.port or 80)) == 0


def test_the_block_gets_a_running_emulator_and_the_environment_points_at_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "the-callers-own")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with kinesis_lab.emulator() as aws:
        assert aws.endpoint_url.startswith("http://127.0.0.1:")
        assert aws.healthy()
        assert os.environ["AWS_ENDPOINT_URL"] == aws.endpoint_url
        assert os.environ["AWS_ACCESS_KEY_ID"] == "test"
        streams = boto3.client("kinesis").list_streams()
        assert streams["StreamNames"] == []
        data_dir = aws.data_dir
    assert os.environ["AWS_ACCESS_KEY_ID"] == "the-callers-own"
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert not port_open(aws.endpoint_url), "the emulator still listens after the block"
    assert not data_dir.exists(), "its temporary directory was left behind"


def test_a_given_data_dir_keeps_what_firehose_delivered(tmp_path: Path) -> None:
    with kinesis_lab.emulator(tmp_path, set_env=False) as aws:
        s3 = boto3.client("s3", endpoint_url=aws.endpoint_url, **credentials(aws))
        s3.create_bucket(Bucket="kept")
        s3.put_object(Bucket="kept", Key="a/b.json", Body=b"{}")
    assert (tmp_path / "s3" / "kept" / "a" / "b.json").read_bytes() == b"{}"
    assert "kinesis-lab emulator: " in (tmp_path / "emulator.log").read_text()


def test_two_emulators_run_side_by_side_on_ports_of_their_own() -> None:
    with kinesis_lab.emulator(set_env=False) as first, kinesis_lab.emulator(set_env=False) as second:
        assert first.endpoint_url != second.endpoint_url
        for aws in (first, second):
            kinesis = boto3.client("kinesis", endpoint_url=aws.endpoint_url, **credentials(aws))
            kinesis.create_stream(StreamName="same-name", ShardCount=1)


def test_a_missing_binary_is_named_with_the_remedy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KINESIS_LAB_BIN", str(tmp_path / "nothing-here"))
    with pytest.raises(kinesis_lab.EmulatorError, match="cannot run .*nothing-here"):
        with kinesis_lab.emulator():
            pass


def credentials(aws: kinesis_lab.Emulator) -> dict[str, str]:
    return {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": aws.region}
