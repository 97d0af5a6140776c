#!/usr/bin/env bash
# The one step of the GitHub Action (action.yml at the repository's root),
# and what .ci/run runs to check it: starts the kinesis-lab emulator in the
# background for the rest of the job, waits until it answers, and gives its
# endpoint.
#
#   packaging/action/start.sh          start it
#   packaging/action/start.sh stop     stop it, as Ctrl+C does (Firehose
#                                      first writes what it still buffers)
#   packaging/action/start.sh target   print the release target it would
#                                      download for this machine
#
# What it reads, as action.yml passes it:
#   KINESIS_LAB_BIN       a kinesis-lab to run; else the one on the PATH; else
#                         the release's, downloaded (see below)
#   KINESIS_LAB_VERSION   the release to download (a tag such as v0.1.0);
#                         default the action's own ref (GITHUB_ACTION_REF)
#   KINESIS_LAB_PORT      the port on 127.0.0.1 (4566)
#   KINESIS_LAB_DATA_DIR  streams and delivered objects ($RUNNER_TEMP/kinesis-lab)
#   KINESIS_LAB_SET_ENV   true: AWS_ENDPOINT_URL and the test credentials for
#                         the job's next steps ($GITHUB_ENV)
# What it gives: endpoint, data-dir and log-file in $GITHUB_OUTPUT.
#
# The download fails closed. The SHA-256 each release archive must have is
# not taken from the release (a checksum that comes with the download proves
# it whole, not who made it) but from this action's own files:
# packaging/action/checksums/<version>.sha256 under GITHUB_ACTION_PATH, in
# SHA256SUMS form (the release workflow writes it, and the tag holds it; see
# the README there). So the commit the action is used at fixes the binary too,
# and a version with no such file is refused. Nothing is extracted or run
# until the archive's digest matches.
#
# KINESIS_LAB_RELEASES_URL replaces https://github.com/<repository>/releases/download
# so that packaging/action/check-download.sh can serve a release from
# 127.0.0.1; the checksums are checked the same way whatever the URL.
set -euo pipefail
# Command substitutions keep set -e too, where bash has it (4.4 and newer;
# macOS's own bash is 3.2). Every step below is checked either way: no
# function that downloads, checks or extracts runs inside $(...) or left of ||.
shopt -s inherit_errexit 2>/dev/null || true

port=${KINESIS_LAB_PORT:-4566}
data_dir=${KINESIS_LAB_DATA_DIR:-${RUNNER_TEMP:-/tmp}/kinesis-lab}
pid_file=$data_dir/emulator.pid
log_file=$data_dir/emulator.log

if [ "${1:-start}" = stop ]; then
  [ -f "$pid_file" ] || { echo "no emulator started here ($pid_file is missing)"; exit 0; }
  pid=$(cat "$pid_file")
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  rm -f "$pid_file"
  echo "stopped the emulator (pid $pid)"
  exit 0
fi

# The release asset for this machine, named as packaging/release/binaries.py names it.
target() {
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) echo x86_64-unknown-linux-gnu ;;
    Linux-aarch64 | Linux-arm64) echo aarch64-unknown-linux-gnu ;;
    Darwin-x86_64) echo x86_64-apple-darwin ;;
    Darwin-arm64) echo aarch64-apple-darwin ;;
    *)
      echo "error: no kinesis-lab release for '$(uname -s) $(uname -m)'" >&2
      echo "build it (cargo build --profile dist) and give the action its path as the binary input" >&2
      exit 1
      ;;
  esac
}

if [ "${1:-start}" = target ]; then
  target
  exit 0
fi

# The action's own directory: the repository at the ref the workflow names.
action_path=${GITHUB_ACTION_PATH:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}

# From standard input, so that no file name (sha256sum escapes some) is in
# the way of the digest.
sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum <"$1" | cut -d' ' -f1
  else
    shasum -a 256 <"$1" | cut -d' ' -f1
  fi
}

# Downloads the release archive for this machine into a new directory,
# checks it against the digest this action lists for it, extracts it, and
# sets $bin. Every step either succeeds or stops the script.
download() {
  local version=${KINESIS_LAB_VERSION:-${GITHUB_ACTION_REF:-}}
  local sums_dir=$action_path/packaging/action/checksums
  local sums=$sums_dir/$version.sha256
  if [ -z "$version" ] || [[ "$version" == */* ]] || [ ! -f "$sums" ]; then
    local listed="" file
    for file in "$sums_dir"/*.sha256; do
      if [ -f "$file" ]; then listed="$listed $(basename "$file" .sha256)"; fi
    done
    listed=${listed:- none}
    echo "error: no kinesis-lab release '$version' is listed in this action ($sums_dir)" >&2
    echo "set the action's version input to a release listed there (${listed# }), or use the action at a commit that lists yours" >&2
    exit 1
  fi
  local releases=${KINESIS_LAB_RELEASES_URL:-}
  if [ -z "$releases" ]; then
    if [ -z "${GITHUB_ACTION_REPOSITORY:-}" ]; then
      echo "error: no kinesis-lab here, and no GITHUB_ACTION_REPOSITORY to download it from" >&2
      echo "set the action's binary input, or put kinesis-lab on the PATH" >&2
      exit 1
    fi
    releases=https://github.com/$GITHUB_ACTION_REPOSITORY/releases/download
  fi
  local target asset
  target=$(target)
  asset=kinesis-lab-$target.tar.gz
  # Exactly one well-formed digest for this archive, or nothing is downloaded.
  local expected
  expected=$(awk -v name="$asset" '$2 == name || $2 == "*" name { print $1 }' "$sums")
  if ! [[ "$expected" =~ ^[0-9a-f]{64}$ ]]; then
    echo "error: '$sums' lists no single SHA-256 for '$asset'" >&2
    echo "use a release that was built for $target, or give the action a binary input" >&2
    exit 1
  fi
  local dir
  dir=$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/kinesis-lab-download.XXXXXX")
  echo "downloading $releases/$version/$asset" >&2
  if ! curl -fsSL --retry 3 --proto '=https,http' -o "$dir/$asset" "$releases/$version/$asset"; then
    echo "error: could not download '$releases/$version/$asset'" >&2
    echo "check that the release $version exists and has an archive for $target, or give the action a binary input" >&2
    exit 1
  fi
  local actual
  actual=$(sha256_of "$dir/$asset")
  if [ "$actual" != "$expected" ]; then
    rm -f -- "$dir/$asset"
    echo "error: '$asset' of kinesis-lab $version has SHA-256 '$actual', not the '$expected' this action lists" >&2
    echo "the download was changed or damaged: nothing was run; check the release, or retry" >&2
    exit 1
  fi
  echo "$asset: sha256 $actual, as listed in packaging/action/checksums/$version.sha256" >&2
  tar -xzf "$dir/$asset" -C "$dir" kinesis-lab
  bin=$dir/kinesis-lab
}

bin=${KINESIS_LAB_BIN:-}
if [ -z "$bin" ]; then
  # Not bin=$(command -v kinesis-lab || download): a function run inside a
  # command substitution, or left of ||, runs without set -e, so a failed
  # step would go on to the next.
  if command -v kinesis-lab >/dev/null; then
    bin=$(command -v kinesis-lab)
  else
    download
  fi
fi
mkdir -p "$data_dir"
url=http://127.0.0.1:$port
echo "starting $("$bin" --version) at $url, data in $data_dir"
nohup "$bin" emulator --port "$port" --data-dir "$data_dir" >"$log_file" 2>&1 &
echo $! >"$pid_file"
if ! "$bin" health --endpoint-url "$url" --wait 60s; then
  cat "$log_file" >&2
  exit 1
fi

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "endpoint=$url"
    echo "data-dir=$data_dir"
    echo "log-file=$log_file"
  } >>"$GITHUB_OUTPUT"
fi
if [ "${KINESIS_LAB_SET_ENV:-true}" = true ] && [ -n "${GITHUB_ENV:-}" ]; then
  {
    echo "AWS_ENDPOINT_URL=$url"
    echo "AWS_ACCESS_KEY_ID=test"
    echo "AWS_SECRET_ACCESS_KEY=test"
    echo "AWS_DEFAULT_REGION=us-east-1"
    echo "AWS_REGION=us-east-1"
  } >>"$GITHUB_ENV"
fi
