"""The research export of a cohort (docs/export.md): a ZIP of CSV files, a data dictionary and a README
with the metric definitions. One code path for `GET /v1/cohorts/{cohort}/export` and
`python -m services.metrics.export COHORT --out file.zip`: `prepare` reads what every published number
reads (a ClickHouse failure there is a clean 503, before the audit record and before any byte), then
`zip_of` streams the archive."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ..clickhouse import ClickHouse


def prepare(ch: ClickHouse, cohort: str, identified: bool = False):
    """The cohort's calendar and member-days, read now (`content.CohortExport`)."""
    from .content import CohortExport  # here, so that `python -m services.metrics.export.dictionary` runs clean

    return CohortExport(ch, cohort, identified)


def zip_of(export, on_file: Callable[[str, int], None] | None = None) -> Iterator[bytes]:
    """The archive's bytes, produced while read."""
    from .archive import zip_stream
    from .dictionary import readme

    return zip_stream(export.files(), [("README.md", readme(export.cohort, export.ids.identified))], on_file)


def export_zip(ch: ClickHouse, cohort: str, identified: bool = False,
               on_file: Callable[[str, int], None] | None = None) -> Iterator[bytes]:
    yield from zip_of(prepare(ch, cohort, identified), on_file)
