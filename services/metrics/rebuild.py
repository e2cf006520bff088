"""`python -m services.metrics.rebuild` — rebuild every ClickHouse table from the Kafka log (offset 0).

Run it while the metrics service is STOPPED (chDB locks its directory to one process). It applies the
migrations, empties every table the sink fills and its stored positions, then sinks every topic from
offset 0 until nothing new arrives for `--idle` seconds. The progress bar's total is the broker's
reported end offsets, an estimate only (tansu reports them one batch short), so completion is
decided by the idle time, never by the total.
"""

from __future__ import annotations

import asyncio

import typer
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.common.kafka_security import aiokafka_options

from .clickhouse import ClickHouse, connect
from .rows import CONVERTERS
from .schema import INSERT_TIME_AGGREGATES, TABLE_SCHEMAS, migrate
from .settings import get_settings
from .sink import Sink

cli = typer.Typer(add_completion=False, help=__doc__)


async def _estimated_total(bootstrap: str, topics: list[str]) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                **aiokafka_options())
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(t, p) for t in topics for p in (consumer.partitions_for_topic(t) or ())]
        return sum((await consumer.end_offsets(partitions)).values()) if partitions else 0
    finally:
        await consumer.stop()


def reset(ch: ClickHouse) -> None:
    for table in [*TABLE_SCHEMAS, *INSERT_TIME_AGGREGATES, "sink_offsets"]:
        ch.command(f"TRUNCATE TABLE IF EXISTS {table}")


async def rebuild(ch: ClickHouse, bootstrap: str, idle_s: float = 2.0, progress: Progress | None = None,
                  clock_mode: str = "simulated") -> int:
    """Empty and refill the sink's tables from offset 0; the number of records read."""
    migrate(ch)
    reset(ch)
    topics = list(CONVERTERS)
    sink = Sink(ch, bootstrap, CONVERTERS, TABLE_SCHEMAS, poll_ms=100, clock_mode=clock_mode)  # judges ticks as live
    task = None
    if progress is not None:
        total = await _estimated_total(bootstrap, topics)
        task = progress.add_task("records", total=max(total, 1))

    def advance(s: Sink) -> None:
        if progress is not None:
            done = sum(s.positions.values())
            progress.update(task, completed=done, total=max(done, progress.tasks[0].total or 1))

    try:
        await sink.run_until_idle(idle_s, advance)
    finally:
        await sink.stop()
    return sum(sink.positions.values())


@cli.command()
def main(idle: float = typer.Option(2.0, help="Seconds without new records that mean the log is read"),
         clickhouse_url: str = typer.Option(None, help="Overrides CLICKHOUSE_URL"),
         kafka_bootstrap: str = typer.Option(None, help="Overrides KAFKA_BOOTSTRAP")) -> None:
    """Rebuild every ClickHouse table of the metrics service from the Kafka log."""
    settings = get_settings()
    console = Console(stderr=True)
    ch = connect(clickhouse_url or settings.clickhouse_url, settings.clickhouse_replicated)
    try:
        with Progress(TextColumn("[bold]rebuilding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as progress:
            count = asyncio.run(rebuild(ch, kafka_bootstrap or settings.kafka_bootstrap, idle, progress,
                                        settings.clock_mode))
    finally:
        ch.close()
    console.print(f"rebuilt from {count} records")


if __name__ == "__main__":
    cli()
