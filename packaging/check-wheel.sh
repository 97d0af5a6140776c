#!/usr/bin/env bash
# Installs the wheel as a Python user does, into a new venv, and uses it from
# a PATH with no cargo and no target/ on it, from a directory outside the
# repository: the walkthrough, a learner's ETL graded, and the Python module
# and pytest plugin with boto3 (python/tests, typed with mypy --strict).
#
#   packaging/check-wheel.sh WHEEL
#
# PYTHON: the interpreter the venv is made from (default: python3).
set -euo pipefail
wheel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step() { printf '\n--> %s\n' "$*"; }
seconds() { date +%s.%N; }
since() { awk -v start="$1" -v now="$(seconds)" 'BEGIN { printf "%.1f", now - start }'; }

step "pip install $(basename "$wheel") into a new venv"
started=$(seconds)
"${PYTHON:-python3}" -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel"
echo "installed in $(since "$started") s"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check boto3 pytest mypy

# Only the venv and the system's own directories: no cargo, no target/.
export PATH="$work/venv/bin:/usr/local/bin:/usr/bin:/bin"
unset KINESIS_LAB_BIN
if command -v cargo >/dev/null; then
  echo "error: cargo is still on the PATH ($(command -v cargo))" >&2
  exit 1
fi
[ "$(command -v kinesis-lab)" = "$work/venv/bin/kinesis-lab" ] ||
  { echo "error: kinesis-lab is not the venv's: $(command -v kinesis-lab)" >&2; exit 1; }
kinesis-lab --version
cd "$work"

step "kinesis-lab lab part2 --fast, from the wheel"
started=$(seconds)
kinesis-lab lab part2 --fast >part2.log 2>&1 || { cat part2.log; exit 1; }
grep -E "^== Part 2 done|^  result" part2.log
echo "from the installed wheel to the first lab summary: $(since "$started") s"
kinesis-lab lab teardown >/dev/null

step "a learner's ETL graded: kinesis-lab lab part2 --fast --etl-command \"python examples/python/consumer.py\""
kinesis-lab lab part2 --fast --etl-command "python $root/examples/python/consumer.py" >learner.log 2>&1 ||
  { cat learner.log; exit 1; }
grep -E "^grade:|^== Part 2 with your ETL done" learner.log
kinesis-lab lab teardown >/dev/null

step "the Python module and the pytest plugin, with boto3 (python/tests)"
# From outside the repository, so that kinesis_lab is the installed one and
# the fixtures come through the plugin's entry point.
cp -r "$root/python/tests" "$work/tests"
python -m pytest -q -p no:cacheprovider "$work/tests"
python -c "import kinesis_lab, sys; assert 'site-packages' in kinesis_lab.__file__, kinesis_lab.__file__"

step "mypy --strict on the module and its tests"
cp "$root/pyproject.toml" "$work/pyproject.toml"
mkdir -p "$work/python"
cp -r "$root/python/kinesis_lab" "$work/python/kinesis_lab"
mv "$work/tests" "$work/python/tests"
(cd "$work" && mypy)
