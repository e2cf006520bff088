"""The repository explains itself: no tracked file cites the product's design record, which lives
outside it; explanations live under docs/ and are cited from there."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Spelled in parts, so that this file, which names what it looks for, does not cite it itself.
RECORD, SHARED = "DESIGN", "shared"
OUTSIDE = (f"{RECORD}.md", f"{RECORD} §", f"../{SHARED}", f"/work/{SHARED}")


def test_no_file_cites_material_outside_the_repository():
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    citing = []
    for name in files:
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        citing += [f"{name}: {needle}" for needle in OUTSIDE if needle in text]
    assert not citing, f"cite docs/ instead: {citing}"
