"""The release binaries, taken out of the wheels: each platform's kinesis-lab
is built once, by maturin, and shipped both ways.

    python packaging/release/binaries.py OUT_DIR WHEEL [WHEEL ...]

For each wheel, OUT_DIR gets `kinesis-lab-<target>.tar.gz` (the binary alone,
executable) and `kinesis-lab-<target>.tar.gz.sha256`, and SHA256SUMS lists
them all. The names carry no version, so that a release's "latest" link
always names the newest (the README's install line downloads it so); the
GitHub Action downloads them by name from the release its checksums list.
"""

from __future__ import annotations

import hashlib
import io
import re
import sys
import tarfile
import zipfile
from pathlib import Path

#: A wheel's platform tag, and the Rust target it was built for.
#: (manylinux_2_28_x86_64, linux_x86_64, macosx_11_0_arm64, ...)
TARGETS = [
    (re.compile(r"^(many)?linux_.*x86_64$"), "x86_64-unknown-linux-gnu"),
    (re.compile(r"^(many)?linux_.*aarch64$"), "aarch64-unknown-linux-gnu"),
    (re.compile(r"^macosx_.*_x86_64$"), "x86_64-apple-darwin"),
    (re.compile(r"^macosx_.*_arm64$"), "aarch64-apple-darwin"),
]


def target_of(wheel: Path) -> str:
    platform = wheel.stem.split("-")[-1]
    for tag in platform.split("."):
        for pattern, target in TARGETS:
            if pattern.match(tag):
                return target
    raise SystemExit(f"error: no release target for the wheel {wheel.name} (platform {platform})")


def binary_of(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        scripts = [name for name in archive.namelist() if re.search(r"\.data/scripts/kinesis-lab$", name)]
        if len(scripts) != 1:
            raise SystemExit(f"error: {wheel.name} does not hold one kinesis-lab binary: {scripts}")
        return archive.read(scripts[0])


def archive(binary: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        entry = tarfile.TarInfo("kinesis-lab")
        entry.size = len(binary)
        entry.mode = 0o755
        tar.addfile(entry, io.BytesIO(binary))
    return out.getvalue()


def main(out_dir: Path, wheels: list[Path]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    sums = []
    for wheel in wheels:
        name = f"kinesis-lab-{target_of(wheel)}.tar.gz"
        data = archive(binary_of(wheel))
        digest = hashlib.sha256(data).hexdigest()
        (out_dir / name).write_bytes(data)
        (out_dir / f"{name}.sha256").write_text(f"{digest}  {name}\n")
        sums.append(f"{digest}  {name}\n")
        print(f"{name}: {len(data) / 2**20:.1f} MiB, sha256 {digest}")
    (out_dir / "SHA256SUMS").write_text("".join(sums))


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    main(Path(sys.argv[1]), [Path(arg) for arg in sys.argv[2:]])
