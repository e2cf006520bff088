"""The research export of a cohort (docs/export.md): a ZIP of CSV files, a data dictionary and a README
with the metric definitions. One code path for `GET /v1/cohorts/{cohort}/export` and
`python -m services.metrics.export COHORT --out file.zip`."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..clickhouse import ClickHouse


def member_count(ch: ClickHouse, cohort: str) -> int:
    """Members in the export (the audit record's `returned`)."""
    return ch.query("SELECT uniqExact(member_id) AS n FROM enrolments FINAL WHERE cohort = {c:String}",
                    {"c": cohort})[0]["n"]


def export_zip(ch: ClickHouse, cohort: str, identified: bool = False,
               on_file: Callable[[str, int], None] | None = None) -> Iterator[bytes]:
    """The archive's bytes, produced while read. ClickHouse is read when the first chunk is asked for."""
    # imported here so that `python -m services.metrics.export.dictionary` runs without a warning
    from .archive import zip_stream
    from .content import CohortExport
    from .dictionary import readme

    export = CohortExport(ch, cohort, identified)
    yield from zip_stream(export.files(), [("README.md", readme(cohort, identified))], on_file)
