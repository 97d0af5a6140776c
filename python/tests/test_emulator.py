"""kinesis_lab.emulator(): started, answering, pointed at, and stopped."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import boto3
import botocore.config
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


def closed_loopback_port() -> int:
    """A port of 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_proxy_for_loopback_does_not_stop_the_emulator_starting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Behind a proxy (HTTP_PROXY set, NO_PROXY not), the health check and boto3
    reach the emulator directly: the proxy here is a closed port."""
    proxy = f"http://127.0.0.1:{closed_loopback_port()}"
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with kinesis_lab.emulator(timeout=10) as aws:
        assert aws.healthy()
        assert boto3.client("kinesis", config=FAIL_FAST).list_streams()["StreamNames"] == []
    assert os.environ["HTTP_PROXY"] == proxy
    assert "NO_PROXY" not in os.environ and "no_proxy" not in os.environ, "NO_PROXY was not put back"


def test_aws_endpoint_url_kinesis_set_before_the_block_is_the_emulator_inside_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """boto3 prefers AWS_ENDPOINT_URL_<SERVICE> to AWS_ENDPOINT_URL, and
    AWS_IGNORE_CONFIGURED_ENDPOINT_URLS turns both off: inside the block each
    points at the emulator or is unset, and each is as it was after it."""
    elsewhere = f"http://127.0.0.1:{closed_loopback_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL_KINESIS", elsewhere)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", elsewhere)
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    with kinesis_lab.emulator() as aws:
        kinesis = boto3.client("kinesis", config=FAIL_FAST)
        assert kinesis.meta.endpoint_url == aws.endpoint_url
        assert kinesis.list_streams()["StreamNames"] == []
        for service in ("KINESIS", "FIREHOSE", "S3", "DYNAMODB", "STS"):
            assert os.environ[f"AWS_ENDPOINT_URL_{service}"] == aws.endpoint_url
        assert "AWS_ENDPOINT_URL_SQS" not in os.environ
        assert "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS" not in os.environ
    assert os.environ["AWS_ENDPOINT_URL_KINESIS"] == elsewhere
    assert os.environ["AWS_ENDPOINT_URL_SQS"] == elsewhere
    assert os.environ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] == "true"
    assert "AWS_ENDPOINT_URL_S3" not in os.environ


#: A test pytest runs in a process of its own, which the next test kills: it
#: writes the endpoint and pid of its emulator, then waits to be killed.
HELD_BY_A_PYTEST_THAT_DIES = '''
import os, time

def test_holds_an_emulator(kinesis_lab_fresh):
    path = os.environ["KINESIS_LAB_TEST_HELD"]
    with open(path + ".partial", "w") as out:
        out.write(f"{kinesis_lab_fresh.endpoint_url} {kinesis_lab_fresh._process.pid}")
    os.rename(path + ".partial", path)
    time.sleep(600)
'''


def test_the_emulator_exits_when_pytest_is_killed_with_sigkill(
    tmp_path: Path, pytestconfig: pytest.Config
) -> None:
    """kill -9 of the pytest that started an emulator leaves no emulator behind:
    the emulator's standard input closes with its parent, and it stops."""
    (tmp_path / "test_held.py").write_text(HELD_BY_A_PYTEST_THAT_DIES)
    held = tmp_path / "held"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if not pytestconfig.pluginmanager.has_plugin("kinesis_lab"):
        # Run from a checkout rather than an installed wheel: no entry point.
        command += ["-p", "kinesis_lab.pytest_plugin"]
    pytest_process = subprocess.Popen(
        [*command, str(tmp_path / "test_held.py")],
        cwd=tmp_path,
        env={**os.environ, "KINESIS_LAB_TEST_HELD": str(held)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    emulator_pid = None
    try:
        deadline = time.monotonic() + 60
        while not held.exists():
            assert pytest_process.poll() is None, "the inner pytest ended before it held an emulator"
            assert time.monotonic() < deadline, "the inner pytest started no emulator within 60 s"
            time.sleep(0.1)
        endpoint_url, pid = held.read_text().split()
        emulator_pid = int(pid)
        assert port_open(endpoint_url)
        pytest_process.send_signal(signal.SIGKILL)
        pytest_process.wait()
        deadline = time.monotonic() + 5
        while port_open(endpoint_url):
            assert time.monotonic() < deadline, "the emulator still listens 5 s after its pytest was killed"
            time.sleep(0.1)
    finally:
        pytest_process.kill()
        pytest_process.wait()
        if emulator_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(emulator_pid, signal.SIGKILL)


#: One attempt, a short connect timeout: a wrong endpoint fails the test at
#: once rather than after boto3's retries.
FAIL_FAST = botocore.config.Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1})
