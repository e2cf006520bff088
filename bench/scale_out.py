"""`python -m bench.scale_out [members]`: the scale-out test (tests/scale) with a heavier cohort and
THREE workers of each stream service (CI runs two).

One worker of the notifier, the survey service and the metrics stream against 2 → 3 workers with a
SIGKILL and a restart, on two brokers at once (docs/scale.md, "What the tests prove"); the results must
be equal. Writes bench/out/scale_out.md: members, outcome and wall time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(__file__).parent / "out"


def main(members: int) -> int:
    OUT.mkdir(exist_ok=True)
    started = time.monotonic()
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                            "tests/scale/test_scale_out.py", "-o", "timeout=1200"],
                           cwd=ROOT, env=dict(os.environ, SCALE_MEMBERS=str(members), SCALE_WORKERS="3"))
    seconds = time.monotonic() - started
    outcome = "equal to one worker" if code == 0 else f"FAILED (pytest exit {code})"
    (OUT / "scale_out.md").write_text(
        "# Scale-out: 1 worker vs 2 → 3 workers with a SIGKILL (notifier, survey, metrics stream)\n\n"
        "| members | days | result | wall time (both runs, side by side) |\n|---|---|---|---|\n"
        f"| {members} | 14 | {outcome} | {seconds:.0f} s |\n")
    print(f"scale-out with {members} members: {outcome} in {seconds:.0f} s")
    return code


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 600))
