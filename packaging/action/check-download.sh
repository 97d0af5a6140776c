#!/usr/bin/env bash
# The GitHub Action's download path (packaging/action/start.sh), checked
# against releases served from 127.0.0.1 instead of GitHub:
#
#   packaging/action/check-download.sh BINARY
#
# BINARY is a kinesis-lab for this machine (.ci/run gives target/dist/kinesis-lab).
# Its release archive is made the way packaging/release/binaries.py makes
# them, and served by `python3 -m http.server` under four versions, each
# checked by name:
#   good                     listed in the action's checksums: it runs
#   tampered_archive_refused the archive differs from the listed digest (and the
#                            release's own .sha256 matches it, as a release
#                            made by someone else would): refused, nothing
#                            extracted, nothing run, non-zero exit
#   damaged_archive_refused  the same archive, with the release's .sha256 of the
#                            genuine one (a failed `sha256sum -c`): refused too
#   unlisted_ref_refused     a ref with no checksum file (a commit): refused
#                            with a remedy, nothing downloaded
#   missing_archive_refused  listed, but the server has no archive: refused
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: packaging/action/check-download.sh BINARY (an executable kinesis-lab for this machine)" >&2
  exit 2
fi
binary=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
start=$PWD/packaging/action/start.sh

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -f "$work/runner-good/kinesis-lab/emulator.pid" ]; then
    RUNNER_TEMP="$work/runner-good" "$start" stop >/dev/null || true
  fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

fail() {
  echo "FAILED $1: $2" >&2
  for log in "$work"/*.log; do
    echo "--- $log" >&2
    cat "$log" >&2
  done
  exit 1
}

target=$("$start" target)
asset=kinesis-lab-$target.tar.gz
releases=$work/releases
mkdir -p "$releases/v0.0.0-good" "$releases/v0.0.0-tampered" "$releases/v0.0.0-damaged" "$releases/v0.0.0-missing"

# The genuine archive, made by the release's own code. A release also holds
# a .sha256 beside each archive (binaries.py writes it); the action must not
# trust it, so the tampered release carries one that matches its archive.
python3 - "$binary" "$releases/v0.0.0-good/$asset" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "packaging/release")
import binaries
Path(sys.argv[2]).write_bytes(binaries.archive(Path(sys.argv[1]).read_bytes()))
PY
# The tampered archive: a kinesis-lab that leaves a mark if anything runs it.
marker=$work/tampered-binary-ran
mkdir -p "$work/evil"
printf '#!/bin/sh\ntouch %q\n' "$marker" >"$work/evil/kinesis-lab"
chmod 755 "$work/evil/kinesis-lab"
tar -czf "$releases/v0.0.0-tampered/$asset" -C "$work/evil" kinesis-lab
for version in good tampered; do
  (cd "$releases/v0.0.0-$version" && sha256sum "$asset" >"$asset.sha256")
done
cp "$releases/v0.0.0-tampered/$asset" "$releases/v0.0.0-good/$asset.sha256" "$releases/v0.0.0-damaged/"

# The action's checkout: its checksums list the genuine archive for every version.
action=$work/action
mkdir -p "$action/packaging/action/checksums"
# With the lines the release workflow writes above the digests, and a wheel's.
for version in good tampered damaged missing; do
  {
    echo "# run-id: 1"
    echo "# commit: 0123456789abcdef0123456789abcdef01234567"
    (cd "$releases/v0.0.0-good" && sha256sum "$asset")
    echo "0000000000000000000000000000000000000000000000000000000000000000  kinesis_lab-0.0.0-py3-none-any.whl"
  } >"$action/packaging/action/checksums/v0.0.0-$version.sha256"
done

http_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$releases" "$http_port" >"$work/http.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$http_port/" 2>/dev/null && break
  sleep 0.1
done

# start.sh prefers a kinesis-lab on the PATH to a download: none here.
path=""
IFS=: read -ra dirs <<<"$PATH"
for dir in "${dirs[@]}"; do
  if [ ! -e "$dir/kinesis-lab" ]; then path=${path:+$path:}$dir; fi
done

# Runs start.sh as the action does, at ref $2, with its own runner directory.
run_action() {
  local name=$1 ref=$2 port=$3
  local runner=$work/runner-$name
  mkdir -p "$runner"
  : >"$runner/output"
  : >"$runner/env"
  PATH=$path GITHUB_ACTION_PATH="$action" GITHUB_ACTION_REPOSITORY=example/kinesis-lab \
    GITHUB_ACTION_REF="$ref" KINESIS_LAB_RELEASES_URL="http://127.0.0.1:$http_port" \
    RUNNER_TEMP="$runner" GITHUB_OUTPUT="$runner/output" GITHUB_ENV="$runner/env" \
    KINESIS_LAB_PORT="$port" "$start" >"$work/$name.log" 2>&1
}

# Nothing of the download may be left to run after a refusal.
nothing_extracted() {
  local runner=$work/runner-$1
  if [ -n "$(find "$runner" -name kinesis-lab -type f)" ]; then
    fail "$1" "a kinesis-lab was extracted: $(find "$runner" -name kinesis-lab -type f)"
  fi
  if [ -e "$marker" ]; then fail "$1" "the tampered binary ran"; fi
}

port=$(free_port)
run_action good v0.0.0-good "$port" || fail good "start.sh exited with $?"
grep -qx "endpoint=http://127.0.0.1:$port" "$work/runner-good/output" || fail good "no endpoint output"
"$binary" health --endpoint-url "http://127.0.0.1:$port" >/dev/null || fail good "the emulator does not answer"
RUNNER_TEMP="$work/runner-good" "$start" stop >/dev/null
echo "ok good: the listed release downloaded, checked and started"

if run_action tampered_archive_refused v0.0.0-tampered "$(free_port)"; then
  fail tampered_archive_refused "start.sh exited with 0"
fi
nothing_extracted tampered_archive_refused
grep -q "has SHA-256" "$work/tampered_archive_refused.log" || fail tampered_archive_refused "no checksum error"
echo "ok tampered_archive_refused: refused before anything was extracted or run"

if run_action damaged_archive_refused v0.0.0-damaged "$(free_port)"; then
  fail damaged_archive_refused "start.sh exited with 0"
fi
nothing_extracted damaged_archive_refused
echo "ok damaged_archive_refused: a failed checksum stops it before anything is extracted or run"

if run_action unlisted_ref_refused 0123456789abcdef0123456789abcdef01234567 "$(free_port)"; then
  fail unlisted_ref_refused "start.sh exited with 0"
fi
nothing_extracted unlisted_ref_refused
grep -q "^error: no kinesis-lab release '0123456789abcdef0123456789abcdef01234567'" \
  "$work/unlisted_ref_refused.log" || fail unlisted_ref_refused "no error naming the ref"
grep -q "^set the action's version input to a release listed there (v0.0.0-" "$work/unlisted_ref_refused.log" ||
  fail unlisted_ref_refused "no remedy naming the listed releases"
echo "ok unlisted_ref_refused: a ref with no checksum file is refused, with a remedy"

if run_action missing_archive_refused v0.0.0-missing "$(free_port)"; then
  fail missing_archive_refused "start.sh exited with 0"
fi
nothing_extracted missing_archive_refused
echo "ok missing_archive_refused: a failed download stops it"
