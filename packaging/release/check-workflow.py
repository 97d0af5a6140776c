"""What the release workflow (.github/workflows/release.yml) must keep, which
neither actionlint nor zizmor checks: one check per way it went wrong before.

    python packaging/release/check-workflow.py [WORKFLOW]

Needs PyYAML (.ci/run's venv has it, through awscli).
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

#: Runner labels GitHub has retired: a job that names one waits forever.
#: (macos-13 went on 2025-12-04, actions/runner-images#13046.)
RETIRED_RUNNERS = {"macos-13", "macos-13-large", "macos-13-xlarge", "macos-12", "ubuntu-20.04", "windows-2019"}

#: Commands that compile kinesis-lab. The wheels job builds it, through
#: maturin; no other job may build it again.
BUILD_COMMANDS = ("cargo build", "cargo install", "maturin build")


def needs_of(job: dict) -> list[str]:
    needs = job.get("needs", [])
    return [needs] if isinstance(needs, str) else list(needs)


def image_published_even_when_release_fails(jobs: dict) -> list[str]:
    image = jobs.get("image", {})
    problems = []
    if "release" not in needs_of(image):
        problems.append("the image job does not need the release job, so a failed release still publishes an image")
    if not image.get("environment"):
        problems.append("the image job has no environment, so nothing guards what it publishes")
    return problems


def binary_built_twice(jobs: dict) -> list[str]:
    problems = []
    for name, job in jobs.items():
        for step in job.get("steps", []):
            run = step.get("run", "")
            for command in BUILD_COMMANDS:
                if command in run:
                    problems.append(f"job '{name}' runs '{command}': the binary is built once, in the wheels job")
            uses = step.get("uses", "")
            if uses.startswith("PyO3/maturin-action") and name != "wheels" and step.get("with", {}).get("command") != "upload":
                problems.append(f"job '{name}' builds with maturin: the binary is built once, in the wheels job")
    return problems


def retired_runner(jobs: dict) -> list[str]:
    problems = []
    for name, job in jobs.items():
        labels = [job.get("runs-on", "")]
        for entry in job.get("strategy", {}).get("matrix", {}).get("include", []):
            labels.append(entry.get("runner", ""))
        for label in labels:
            if label in RETIRED_RUNNERS:
                problems.append(f"job '{name}' runs on '{label}', which GitHub has retired")
    return problems


CHECKS = [image_published_even_when_release_fails, binary_built_twice, retired_runner]


def main(path: Path) -> int:
    jobs = yaml.safe_load(path.read_text())["jobs"]
    failed = 0
    for check in CHECKS:
        problems = check(jobs)
        print(f"{'FAILED' if problems else 'ok'} {check.__name__}")
        for problem in problems:
            print(f"  {problem}")
        failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".github/workflows/release.yml")))
