"""pytest fixtures for code that talks to Kinesis, Firehose or S3: registered
with pytest (the `pytest11` entry point) when kinesis-lab is installed.

- `kinesis_lab`: the session's emulator, with `AWS_ENDPOINT_URL` (and the
  per-service endpoint variables, which boto3 prefers) and the test
  credentials set for the test, so that `boto3.client("kinesis")` reaches it.
  Tests share it: name their streams and buckets apart.
- `kinesis_lab_fresh`: an emulator of the test's own, started for it and
  stopped after it, with the environment set the same way.
- `kinesis_lab_emulator`: the session's emulator, with the environment left
  as it is (for code that takes an endpoint URL).

    def test_orders_reach_the_stream(kinesis_lab):
        kinesis = boto3.client("kinesis")
        kinesis.create_stream(StreamName="orders", ShardCount=1)
        ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from ._emulator import Emulator, emulator


@pytest.fixture(scope="session")
def kinesis_lab_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The session's emulator; the environment is left as it is."""
    with emulator(tmp_path_factory.mktemp("kinesis-lab"), set_env=False) as running:
        yield running


@pytest.fixture
def kinesis_lab(kinesis_lab_emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The session's emulator, with the environment pointing at it for this test."""
    _point_at(kinesis_lab_emulator, monkeypatch)
    return kinesis_lab_emulator


@pytest.fixture
def kinesis_lab_fresh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator of this test's own, with the environment pointing at it."""
    with emulator(tmp_path, set_env=False) as running:
        _point_at(running, monkeypatch)
        yield running


def _point_at(running: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """The environment of the test pointed at `running`, every per-service
    endpoint included; monkeypatch puts it back after the test."""
    for key, value in running.environment().items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
