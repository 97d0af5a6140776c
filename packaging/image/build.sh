#!/usr/bin/env bash
# Builds the container image from a kinesis-lab binary, with nothing pulled:
# lays out the image's root file system (the binary, and the shared libraries
# `ldd` says it links, at the paths it looks for them), then builds the
# Dockerfile beside this script FROM scratch.
#
#   packaging/image/build.sh [BINARY] [TAG]
#
# BINARY: the kinesis-lab to put in (default: target/dist/kinesis-lab, built
# here with `cargo build --profile dist` when missing). TAG: the image's name
# (default: kinesis-lab:latest). CONTAINER_ENGINE: the command that builds
# (default: podman, else docker).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
binary=${1:-$root/target/dist/kinesis-lab}
tag=${2:-kinesis-lab:latest}
engine=${CONTAINER_ENGINE:-$(command -v podman || command -v docker || true)}
if [ -z "$engine" ]; then
  echo "error: neither podman nor docker is installed (or set CONTAINER_ENGINE)" >&2
  exit 1
fi
if [ ! -x "$binary" ]; then
  (cd "$root" && cargo build --profile dist --locked --bin kinesis-lab)
fi

context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp "$here/Dockerfile" "$context/"
mkdir -p "$context/rootfs/usr/local/bin" "$context/rootfs/etc" "$context/rootfs/tmp" "$context/data"
install -m 0755 "$binary" "$context/rootfs/usr/local/bin/kinesis-lab"
# Every library the binary links, and the dynamic loader, where it looks for
# them. (A binary that links nothing dynamically needs none.)
if ldd "$binary" >/dev/null 2>&1; then
  ldd "$binary" | grep -o '/[^ ]*' | sort -u | while read -r library; do
    mkdir -p "$context/rootfs$(dirname "$library")"
    cp -L "$library" "$context/rootfs$library"
  done
fi
chmod 1777 "$context/rootfs/tmp"
# The build machine's CA certificates, for `kinesis-lab ... --aws` from inside
# (the emulator itself never leaves the container).
if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
  mkdir -p "$context/rootfs/etc/ssl/certs"
  cp /etc/ssl/certs/ca-certificates.crt "$context/rootfs/etc/ssl/certs/"
fi
# Names for the two users, so that tools inside and outside show them.
printf 'root:x:0:0:root:/:/nonexistent\nkinesis-lab:x:10001:10001:kinesis-lab:/data:/nonexistent\n' \
  >"$context/rootfs/etc/passwd"
printf 'root:x:0:\nkinesis-lab:x:10001:\n' >"$context/rootfs/etc/group"

# `--format docker` keeps the HEALTHCHECK (podman's default OCI format has none).
format=()
case "$engine" in *podman*) format=(--format docker) ;; esac
# shellcheck disable=SC2086 # CONTAINER_ENGINE may carry the engine's own flags
$engine build "${format[@]}" --tag "$tag" "$context"
echo "built $tag"
