"""The emulator as a Python object: started on a free loopback port, waited
for until it answers, and stopped, by the `kinesis-lab` binary that this
package installs beside it."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator, Mapping, Sequence

#: Where the emulator says it is ready: `GET` answers 200 with a JSON body.
HEALTH_PATH = "/_kinesis_lab/health"

#: What the emulator prints first, with the address it listens on.
_BANNER = re.compile(r"^kinesis-lab emulator: .* at (http://\S+)")

#: The services the emulator answers for, as their per-service endpoint
#: variables name them (`AWS_ENDPOINT_URL_KINESIS`, ...).
SERVICES = ("KINESIS", "FIREHOSE", "S3", "DYNAMODB", "STS")

#: Turns off every configured endpoint in boto3 and the AWS SDKs: inside a
#: block pointed at the emulator, that would mean real AWS.
_IGNORE_ENDPOINTS = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"

#: Requests to the emulator, which listens on loopback, never go through a
#: proxy: urllib's default opener sends 127.0.0.1 to HTTP_PROXY unless
#: NO_PROXY names it, and behind a corporate proxy that fails.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))

#: The credentials and region the emulator takes (it checks no permissions).
TEST_CREDENTIALS: Mapping[str, str] = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


class EmulatorError(RuntimeError):
    """The emulator could not be started, or did not answer in time."""


def binary() -> str:
    """The `kinesis-lab` program: the one `KINESIS_LAB_BIN` names, else the
    one installed with this package, else the first on the PATH."""
    named = os.environ.get("KINESIS_LAB_BIN")
    if named:
        return named
    name = "kinesis-lab.exe" if sys.platform == "win32" else "kinesis-lab"
    beside = Path(sysconfig.get_path("scripts")) / name
    if beside.is_file():
        return str(beside)
    found = shutil.which("kinesis-lab")
    if found is None:
        raise EmulatorError(
            "cannot find the kinesis-lab program: install the kinesis-lab package "
            "(pip install kinesis-lab), or set KINESIS_LAB_BIN to its path"
        )
    return found


@dataclass
class Emulator:
    """A running emulator: Kinesis, Firehose, DynamoDB and S3 at `endpoint_url`."""

    endpoint_url: str
    #: Where it writes what Firehose delivers, as plain files (`s3/BUCKET/KEY`).
    data_dir: Path
    #: Everything it printed, for when something goes wrong.
    log_file: Path
    region: str = "us-east-1"
    account_id: str = "000000000000"
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def env(self) -> dict[str, str]:
        """The variables that point boto3 and the AWS SDKs at this emulator:
        `AWS_ENDPOINT_URL`, and the per-service ones for what it serves,
        which boto3 prefers to it."""
        endpoints = {f"AWS_ENDPOINT_URL_{service}": self.endpoint_url for service in SERVICES}
        return {"AWS_ENDPOINT_URL": self.endpoint_url, **endpoints, **TEST_CREDENTIALS}

    def environment(self, current: Mapping[str, str] | None = None) -> dict[str, str | None]:
        """What to change in `current` (default `os.environ`) to point the AWS
        SDKs at this emulator: `env()` to set, and None for what to unset:
        the per-service endpoints of other services (each would send its
        service elsewhere) and `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`. And
        `NO_PROXY` gains the emulator's host, so that a proxy set for the
        internet is not asked for loopback."""
        current = os.environ if current is None else current
        changes: dict[str, str | None] = {
            name: None for name in current if name.startswith("AWS_ENDPOINT_URL_") or name == _IGNORE_ENDPOINTS
        }
        changes.update(self.env())
        # boto3 sends loopback to HTTP_PROXY too, unless NO_PROXY names it;
        # both spellings, since tools disagree on which one wins.
        host = urllib.parse.urlsplit(self.endpoint_url).hostname or "127.0.0.1"
        for name in ("no_proxy", "NO_PROXY"):
            entries = [entry.strip() for entry in current.get(name, "").split(",") if entry.strip()]
            if host not in entries and "*" not in entries:
                changes[name] = ",".join([*entries, host])
        return changes

    def healthy(self) -> bool:
        """Whether it answers its health check now."""
        try:
            with _DIRECT.open(self.endpoint_url + HEALTH_PATH, timeout=2) as answer:
                return bool(answer.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 30.0) -> None:
        """Ctrl+C, as a person stops it: Firehose writes what it still
        buffers; then a kill if it has not stopped within `timeout`."""
        process, self._process = self._process, None
        if process is None:
            return
        try:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            if process.stdin is not None:
                process.stdin.close()

    @classmethod
    def start(
        cls,
        data_dir: str | os.PathLike[str],
        *,
        aws_delays: bool = False,
        extra_args: Sequence[str] = (),
        timeout: float = 30.0,
    ) -> Emulator:
        """Starts an emulator on a free port of 127.0.0.1 that keeps its
        streams in memory and its S3 objects in `data_dir`, and waits until
        it answers. Streams and delivery streams are ACTIVE at once unless
        `aws_delays` asks for AWS's CREATING times."""
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        log_file = data_dir / "emulator.log"
        # --exit-with-stdin: the emulator stops when its standard input, a
        # pipe whose other end only this process holds, closes. The kernel
        # closes it when this process dies, even by SIGKILL, when no cleanup
        # of ours runs: so no emulator outlives the tests that started it.
        args = [binary(), "emulator", "--port", "0", "--ephemeral", "--exit-with-stdin", "--data-dir", str(data_dir)]
        if not aws_delays:
            args += ["--kinesis-status-delay", "0s", "--firehose-activation-delay", "0s"]
        args += list(extra_args)
        log = log_file.open("wb")
        try:
            process = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
        except OSError as error:
            log.close()
            raise EmulatorError(f"cannot run {args[0]}: {error}") from error
        assert process.stdout is not None
        url = _read_banner(process.stdout, log, timeout)
        if url is None:
            process.kill()
            process.wait()
            if process.stdin is not None:
                process.stdin.close()
            log.close()
            raise EmulatorError(
                f"the emulator did not start within {timeout:.0f} s; what it printed is in {log_file}:\n"
                + log_file.read_text(errors="replace")[-2000:]
            )
        running = cls(endpoint_url=url, data_dir=data_dir, log_file=log_file, _process=process)
        deadline = time.monotonic() + timeout
        while not running.healthy():
            if process.poll() is not None or time.monotonic() > deadline:
                running.stop()
                raise EmulatorError(f"the emulator at {url} does not answer; see {log_file}")
            time.sleep(0.05)
        return running


def _read_banner(stdout: IO[bytes], log: IO[bytes], timeout: float) -> str | None:
    """The endpoint from the emulator's first lines. The rest of what it
    prints goes on into the log, from a thread, so that its pipe never fills."""
    found: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        for line in stdout:
            log.write(line)
            log.flush()
            match = _BANNER.search(line.decode(errors="replace"))
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()
        log.close()

    threading.Thread(target=drain, name="kinesis-lab emulator output", daemon=True).start()
    ready.wait(timeout)
    return found[0] if found else None


@contextlib.contextmanager
def emulator(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    set_env: bool = True,
    aws_delays: bool = False,
    extra_args: Sequence[str] = (),
    timeout: float = 30.0,
) -> Iterator[Emulator]:
    """An emulator for the length of a `with` block.

    It listens on a free port of 127.0.0.1, keeps its streams in memory and
    the objects Firehose delivers in `data_dir` (a temporary directory,
    removed afterwards, unless one is given). The block gets it once it
    answers; `emulator.endpoint_url` is its endpoint. With `set_env` (the
    default) the block runs with `AWS_ENDPOINT_URL`, the per-service endpoint
    variables and the test credentials pointing boto3 and the AWS SDKs at it
    (other per-service endpoints and `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS`
    unset, the emulator's host added to `NO_PROXY`); all are put back
    afterwards.

    The emulator stops when the block ends, and also when this process dies
    however it dies: its standard input is a pipe from here, and it stops
    when that pipe closes.

        with kinesis_lab.emulator() as aws:
            kinesis = boto3.client("kinesis")
            kinesis.create_stream(StreamName="orders", ShardCount=1)
    """
    with contextlib.ExitStack() as stack:
        if data_dir is None:
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="kinesis-lab-"))
        running = Emulator.start(data_dir, aws_delays=aws_delays, extra_args=extra_args, timeout=timeout)
        stack.callback(running.stop)
        if set_env:
            stack.enter_context(_environment(running.environment()))
        yield running


@contextlib.contextmanager
def _environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """`values` in `os.environ` for the block (None: unset); what was there
    before, after."""
    saved = {key: os.environ.get(key) for key in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
