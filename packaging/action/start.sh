#!/usr/bin/env bash
# The one step of the GitHub Action (action.yml at the repository's root),
# and what .ci/run runs to check it: starts the kinesis-lab emulator in the
# background for the rest of the job, waits until it answers, and gives its
# endpoint.
#
#   packaging/action/start.sh          start it
#   packaging/action/start.sh stop     stop it, as Ctrl+C does (Firehose
#                                      first writes what it still buffers)
#
# What it reads, as action.yml passes it:
#   KINESIS_LAB_BIN       a kinesis-lab to run; else the one on the PATH; else
#                         the release's, downloaded and checked against its
#                         SHA-256 (KINESIS_LAB_VERSION: the release's tag;
#                         default the action's own ref, or the latest release)
#   KINESIS_LAB_PORT      the port on 127.0.0.1 (4566)
#   KINESIS_LAB_DATA_DIR  streams and delivered objects ($RUNNER_TEMP/kinesis-lab)
#   KINESIS_LAB_SET_ENV   true: AWS_ENDPOINT_URL and the test credentials for
#                         the job's next steps ($GITHUB_ENV)
# What it gives: endpoint, data-dir and log-file in $GITHUB_OUTPUT.
set -euo pipefail

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
    *) echo "error: no kinesis-lab release for $(uname -s) $(uname -m)" >&2; exit 1 ;;
  esac
}

download() {
  local repository=${GITHUB_ACTION_REPOSITORY:-}
  local version=${KINESIS_LAB_VERSION:-${GITHUB_ACTION_REF:-}}
  if [ -z "$repository" ]; then
    echo "error: no kinesis-lab here: set the action's binary input, or put kinesis-lab on the PATH" >&2
    exit 1
  fi
  local asset base
  asset=kinesis-lab-$(target).tar.gz
  # A tag names its release; a branch or a commit takes the latest one.
  if [[ "$version" =~ ^v[0-9] ]]; then
    base=https://github.com/$repository/releases/download/$version
  else
    base=https://github.com/$repository/releases/latest/download
  fi
  local dir
  dir=$(mktemp -d)
  curl -fsSL --retry 3 -o "$dir/$asset" "$base/$asset"
  curl -fsSL --retry 3 -o "$dir/$asset.sha256" "$base/$asset.sha256"
  (cd "$dir" && { sha256sum -c "$asset.sha256" 2>/dev/null || shasum -a 256 -c "$asset.sha256"; }) >&2
  tar -xzf "$dir/$asset" -C "$dir"
  echo "$dir/kinesis-lab"
}

bin=${KINESIS_LAB_BIN:-}
if [ -z "$bin" ]; then
  bin=$(command -v kinesis-lab || download)
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
