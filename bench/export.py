"""Research export of one large cohort from chDB (docs/export.md).

`python -m bench.export [members] [events]` fills a fresh chDB directory with ONE cohort (default
5,000 members, 3 time zones, 105 days, 3 million de-duplicated raw events; the filler of
bench/metrics_query.py), then streams its export to a file and prints: the time, the archive's size,
the largest chunk handed to the client, the process's peak RSS before and after the export, and the
time `/weekly` takes on the same store (what the export reads is what every number reads).
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from bench import metrics_query
from services.metrics import queries
from services.metrics.clickhouse import connect
from services.metrics.export import export_zip
from services.metrics.schema import migrate

console = Console()


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    members = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000
    events = int(sys.argv[2]) if len(sys.argv) > 2 else 3_000_000
    metrics_query.COHORTS, metrics_query.MEMBERS = 1, members
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        ch = connect(f"chdb://{tmp}/chdb")
        migrate(ch)
        metrics_query.fill(ch, events)
        started = time.perf_counter()
        queries.weekly(ch, "c00")
        weekly_s = time.perf_counter() - started
        before = peak_rss_mib()
        out, size, largest = Path(tmp) / "export.zip", 0, 0
        started = time.perf_counter()
        with out.open("wb") as file:
            for chunk in export_zip(ch, "c00"):
                file.write(chunk)
                size += len(chunk)
                largest = max(largest, len(chunk))
        export_s = time.perf_counter() - started
        member_days = len(queries.cohort_days(ch, "c00")[1])
        ch.close()
    console.print(f"cohort of {members:,} members, {member_days:,} member-days, {events:,} events")
    console.print(f"export: {export_s:.1f} s, {size / 2**20:.1f} MiB zip, largest chunk {largest / 2**10:.0f} KiB")
    console.print(f"/weekly on the same store: {weekly_s:.1f} s")
    console.print(f"peak RSS: {before:.0f} MiB before the export, {peak_rss_mib():.0f} MiB after")


if __name__ == "__main__":
    main()
