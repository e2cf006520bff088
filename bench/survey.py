"""Survey benchmark: the pure parts at programme scale (no broker).

`python -m bench.survey [members]` prints a table and writes bench/out/survey.md:
  1. QLQ-C30 scoring rate (questionnaires/s);
  2. enrolment → schedule rate (members/s);
  3. one clock.tick over every partition with all members' invitations open (ms per tick) —
     the cost a production scheduler pays every minute;
  4. folding the `surveys` log back into a book (events/s) — the restart rebuild, CPU side;
  5. with `--broker`: the same log written to a fresh local broker (tansu) and a SurveyRuntime
     started on it — seconds until its book is rebuilt (what a restart costs before /readyz).
"""

from __future__ import annotations

import asyncio
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
from services.common.broker import start_broker
from services.common.kafka import Publisher, ensure_topics
from services.survey.runtime import SurveyRuntime, records_for
from services.survey.scoring import score
from services.survey.settings import SurveySettings
from services.survey.state import SurveyBook

OUT = Path(__file__).parent / "out"
ZONES = ("Asia/Shanghai", "America/New_York", "Europe/Berlin", "Australia/Sydney", "UTC")


async def rebuild_on_broker(log) -> tuple[float, int]:
    process, bootstrap = start_broker()
    try:
        ensure_topics(bootstrap)
        publisher = Publisher(bootstrap, 30_000)
        records = [r for r in records_for(log) if r.topic == "surveys"]
        for i in range(0, len(records), 5_000):
            await publisher.publish(records[i:i + 5_000])
        publisher.close()
        runtime = SurveyRuntime(SurveySettings(kafka_bootstrap=bootstrap, jwt_secret="b" * 40))
        await runtime.start()
        await asyncio.wait_for(runtime.rebuilt.wait(), 300)
        folded = len(runtime.book.invitations)
        await runtime.stop()
        return runtime.rebuild_seconds or 0.0, folded
    finally:
        process.terminate()
        process.wait(10)


def main(members: int = 20_000, broker: bool = False) -> None:
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
    rows.append(
        ("enrolment → 4 scheduled questionnaires", f"{members / (time.perf_counter() - started):,.0f} members/s")
    )

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
    rows.append(
        (f"busy tick ({len(steps):,} steps), all partitions", f"{(time.perf_counter() - started) * 1000:,.1f} ms")
    )

    fresh = SurveyBook()
    started = time.perf_counter()
    fresh.apply_all(log)
    rows.append(("rebuild: fold the surveys log", f"{len(log) / (time.perf_counter() - started):,.0f} events/s "
                 f"({len(log):,} events)"))

    if broker:
        seconds, folded = asyncio.run(rebuild_on_broker(log))
        rows.append(("restart: book rebuilt from tansu (incl. 0.5 s quiet wait)",
                     f"{seconds:,.2f} s for {len(log):,} events ({folded:,} invitations)"))

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
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    main(int(numbers[0]) if numbers else 20_000, broker="--broker" in sys.argv)
