"""Ingest's erasure guard (pure directory) and the erasure CLI's refusals. The API itself, against the
real broker and chDB, is tested in tests/faults/test_erasure.py."""

from __future__ import annotations

from datetime import date, datetime, timezone
from uuid import uuid4

from typer.testing import CliRunner

from contracts.members import MemberEnrolled
from services.ingest.directory import Directory
from services.ingest.erase import app


def test_directory_forgets_an_erased_member_and_refuses_its_id():
    d = Directory()
    d.fold(MemberEnrolled(event_id=uuid4(), member_id="m-1", cohort="c", timezone="UTC",
                          enrolled_on=date(2026, 1, 1), occurred_at=datetime.now(timezone.utc)))
    assert d.erasure("m-1") is not None and not hasattr(d.erasure("m-1"), "status")
    d.fold_erased("m-1")
    assert d.erasure("m-1").status == 404
    assert d.event_problem("m-1", datetime.now(timezone.utc), date.max - date.min)[1] == "not_enrolled"
    # a record of the id read after the erasure (topics are read in parallel) does not bring it back
    d.fold(MemberEnrolled(event_id=uuid4(), member_id="m-1", cohort="c", timezone="UTC",
                          enrolled_on=date(2026, 1, 1), occurred_at=datetime.now(timezone.utc)))
    assert "m-1" not in d.members


def test_cli_needs_a_token_and_reports_an_unreachable_ingest(monkeypatch):
    monkeypatch.delenv("CARECIRCLE_ADMIN_TOKEN", raising=False)
    runner = CliRunner()
    assert runner.invoke(app, ["m-1", "--yes"]).exit_code == 1
    result = runner.invoke(app, ["m-1", "--yes", "--token", "t", "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "unreachable" in result.output
