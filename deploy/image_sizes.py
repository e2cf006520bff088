"""Installed size of each service image's Python dependencies, computed from the wheels (no Docker engine).

    pip download --no-deps --only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 \\
        --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \\
        -r deploy/docker/requirements/<service>.txt -d /tmp/wheels          # for every lock
    python -m deploy.image_sizes /tmp/wheels [--before OLD_PINS.txt]

The size of a wheel's installed files is the sum of its members' uncompressed sizes (what pip unpacks into
site-packages, before it compiles .pyc files). `--before` takes a name==version list (the single
constraints file every image used to install) and adds a column for it; docs/deploy.md keeps the table.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from . import lock

MB = 1_000_000


def wheel_sizes(folder: Path) -> dict[tuple[str, str], int]:
    """(name, version) -> installed bytes, for every wheel in the folder."""
    sizes = {}
    for wheel in folder.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        with zipfile.ZipFile(wheel) as archive:
            sizes[(canonicalize_name(name), str(version))] = sum(i.file_size for i in archive.infolist())
    return sizes


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text("utf-8").splitlines():
        if line and not line[0].isspace() and not line.startswith("#") and "==" in line:
            name, _, rest = line.partition("==")
            found[canonicalize_name(name)] = rest.split()[0].rstrip("\\").strip()
    return found


def installed(requirements: dict[str, str], sizes: dict[tuple[str, str], int]) -> tuple[int, list[str]]:
    """(total bytes, packages whose wheel is missing from the folder)."""
    missing = [f"{n}=={v}" for n, v in requirements.items() if (n, v) not in sizes]
    return sum(sizes.get((n, v), 0) for n, v in requirements.items()), missing


def table(folder: Path, before: Path | None) -> str:
    sizes = wheel_sizes(folder)
    old = pins(before) if before else None
    old_total = installed(old, sizes)[0] if old else None
    rows = ["| image | packages | installed MB | before: packages | before: MB | largest packages now |",
            "|---|---:|---:|---:|---:|---|"]
    for service in lock.SERVICES:
        now = pins(lock.lock_path(service))
        total, missing = installed(now, sizes)
        if missing:
            raise SystemExit(f"{service}: no wheel in {folder} for {', '.join(missing)} (pip download them first)")
        largest = sorted(now, key=lambda n: -sizes[(n, now[n])])[:3]
        top = ", ".join(f"{n} {sizes[(n, now[n])] / MB:.0f}" for n in largest)
        before_cells = f"{len(old)} | {old_total / MB:.0f}" if old else "– | –"
        rows.append(f"| {service} | {len(now)} | {total / MB:.0f} | {before_cells} | {top} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.image_sizes")
    parser.add_argument("wheels", type=Path)
    parser.add_argument("--before", type=Path)
    args = parser.parse_args(argv)
    print(table(args.wheels, args.before))
    return 0


if __name__ == "__main__":
    sys.exit(main())
