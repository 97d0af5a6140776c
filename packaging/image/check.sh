#!/usr/bin/env bash
# Runs the image as a user would, and checks it: healthy, the lab's part 2
# driven from outside through the mapped port, the console through that port
# (and refused under a name it was not given), then the container killed and
# started again on the same volume with the streams and the delivered
# objects still there.
#
#   packaging/image/check.sh [TAG]
#
# KINESIS_LAB: the kinesis-lab that drives it from outside (default: the one
# on the PATH). CONTAINER_ENGINE: as for build.sh.
set -euo pipefail
tag=${1:-kinesis-lab:latest}
engine=${CONTAINER_ENGINE:-$(command -v podman || command -v docker)}
kl=${KINESIS_LAB:-kinesis-lab}
name=kinesis-lab-check-$$
volume=kinesis-lab-check-data-$$
work=$(mktemp -d)
# shellcheck disable=SC2086 # CONTAINER_ENGINE may carry the engine's own flags
run() { $engine "$@"; }
cleanup() {
  run rm -f "$name" >/dev/null 2>&1 || true
  run volume rm -f "$volume" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n--> %s\n' "$*"; }
fail() { echo "error: $*" >&2; run logs "$name" >&2 || true; exit 1; }
seconds() { date +%s.%N; }
since() { awk -v start="$1" -v now="$(seconds)" 'BEGIN { printf "%.1f", now - start }'; }

step "start $tag: port 4566 mapped to a free port of 127.0.0.1, /data on volume $volume"
run volume create "$volume" >/dev/null
started=$(seconds)
# The ulimits: podman here refuses to start a container without them (see
# ../shared/PACKAGING.md); they are the usual values anyway.
run run -d --name "$name" -p 127.0.0.1::4566 -v "$volume:/data" \
  --ulimit nofile=20000:20000 --ulimit nproc=4096:4096 \
  -e KINESIS_LAB_CONSOLE_HOSTS=lab-box "$tag" >/dev/null
port=$(run port "$name" 4566 | head -n1 | sed 's/.*://')
url=http://127.0.0.1:$port
"$kl" health --endpoint-url "$url" --wait 60s || fail "the container does not answer at $url"
echo "answered after $(since "$started") s"

step "the image's own health check (no shell inside)"
healthy=no
for _ in $(seq 1 60); do
  if [[ "$engine" == *podman* ]]; then
    if run healthcheck run "$name" >/dev/null 2>&1; then healthy=yes; break; fi
  elif [ "$(run inspect --format '{{.State.Health.Status}}' "$name")" = healthy ]; then
    healthy=yes
    break
  fi
  sleep 1
done
[ "$healthy" = yes ] || fail "the health check never passed"
echo "healthy"

step "the lab's part 2 from outside: kinesis-lab lab part2 --fast --endpoint-url $url"
"$kl" lab part2 --fast --sessions 12 --endpoint-url "$url" --work-dir "$work/lab" >"$work/part2.log" 2>&1 ||
  { cat "$work/part2.log"; fail "part 2 failed against the container"; }
grep -E "^  result" "$work/part2.log"

step "the console through the mapped port"
curl -fsS "$url/_console/" | grep -q "kinesis-lab" || fail "the console did not answer at $url/_console/"
echo "$url/_console/ answers"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: lab-box:$port" "$url/_console/")
[ "$status" = 200 ] || fail "the console refused lab-box, named in KINESIS_LAB_CONSOLE_HOSTS ($status)"
status=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: evil.example:$port" "$url/_console/")
[ "$status" = 403 ] || fail "the console answered a name it was not given ($status)"
echo "lab-box served, evil.example refused"

step "kill the container, start it again on the same volume"
run kill "$name" >/dev/null
run start "$name" >/dev/null
port=$(run port "$name" 4566 | head -n1 | sed 's/.*://')
url=http://127.0.0.1:$port
restarted=$(seconds)
"$kl" health --endpoint-url "$url" --wait 60s || fail "the restarted container does not answer"
echo "answered after $(since "$restarted") s"
"$kl" infra status --endpoint-url "$url" | tee "$work/status.txt"
grep -q "de-c2w2lab1-kinesis-data-stream" "$work/status.txt" || fail "the streams did not survive the restart"
"$kl" verify --expect "$work/lab/sessions.jsonl" --endpoint-url "$url" --output json >"$work/verify.json" ||
  fail "what Firehose delivered did not survive the restart: $(cat "$work/verify.json")"
echo "streams and delivered objects survived kill and restart"
