"""Survey benchmark: the pure parts at programme scale (no broker).

`python -m bench.survey [members]` prints a table and writes bench/out/survey.md:
  1. QLQ-C30 scoring rate (questionnaires/s);
  2. enrolment → schedule rate (members/s);
  3. one clock.tick over every partition with all members' invitations open (ms per tick) —
     the cost a production scheduler pays every minute;
  4. folding the `surveys` log back into a book (events/s) — the restart rebuild, CPU side.
"""

from __future__ import annotations

import random
import sys
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

from rich.console import Console
from rich.table import Table

from contracts.members import MemberEnrolled
from contracts.topics import MEMBER_PARTITIONS
from services.survey.scoring import score
from services.survey.state import SurveyBook

OUT = Path(__file__).parent / "out"
ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Sydney", "UTC")


def main(members: int = 20_000) -> None:
    rng = random.Random(1)
    rows = []

    answers = [{i: rng.randint(1, 7 if i >= 29 else 4) for i in range(1, 31)} for _ in range(2_000)]
    started = time.perf_counter()
    for _ in range(5):
        for a in answers:
            score(a)
    rows.append(("QLQ-C30 scoring", f"{5 * len(answers) / (time.perf_counter() - started):,.0f} questionnaires/s"))

    book, log = SurveyBook(), []
    enrolments = [MemberEnrolled(event_id=uuid4(), member_id=f"m-{i}", cohort=f"c-{i % 50}", timezone=ZONES[i % 5],
                                 enrolled_on=date(2026, 11, 1) + timedelta(days=i % 7),
                                 occurred_at=datetime(2026, 11, 1, tzinfo=timezone.utc)) for i in range(members)]
    started = time.perf_counter()
    for i, enrolment in enumerate(enrolments):
        log += book.on_enrolled(enrolment, partition=i % MEMBER_PARTITIONS)
    rows.append(("enrolment → 4 scheduled questionnaires", f"{members / (time.perf_counter() - started):,.0f} members/s"))

    quiet = datetime(2026, 10, 31, tzinfo=timezone.utc)  # nothing due yet: the every-minute cost
    started = time.perf_counter()
    for partition in range(MEMBER_PARTITIONS):
        book.on_tick(quiet, partition)
    quiet_ms = (time.perf_counter() - started) * 1000
    rows.append((f"quiet tick, {len(book.open_ids):,} open invitations, all partitions", f"{quiet_ms:,.3f} ms"))

    busy = datetime(2026, 11, 3, 12, tzinfo=timezone.utc)  # a T0 invitation or reminder due for most
    started = time.perf_counter()
    steps = []
    for partition in range(MEMBER_PARTITIONS):
        steps += book.on_tick(busy, partition)
    log += steps
    rows.append((f"busy tick ({len(steps):,} steps), all partitions", f"{(time.perf_counter() - started) * 1000:,.1f} ms"))

    fresh = SurveyBook()
    started = time.perf_counter()
    fresh.apply_all(log)
    rows.append(("rebuild: fold the surveys log", f"{len(log) / (time.perf_counter() - started):,.0f} events/s "
                 f"({len(log):,} events)"))

    table = Table(title=f"survey service, pure parts, {members:,} members")
    table.add_column("what")
    table.add_column("result", justify="right")
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    OUT.mkdir(exist_ok=True)
    lines = [f"# survey benchmark ({members:,} members, one process)", "", "| what | result |", "|---|---|"]
    (OUT / "survey.md").write_text("\n".join(lines + [f"| {a} | {b} |" for a, b in rows]) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
