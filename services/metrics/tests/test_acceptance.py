"""Acceptance: a generated cohort (54 members, 15 weeks, 3 zones incl. DST and east of UTC, 5 %
duplicates, events up to 3 days late, two withdrawals, events after withdrawal) goes through the
real ingest API and the real broker into chDB; every published number equals the independent count."""

from __future__ import annotations

import time

import pytest

from contracts.daily import EngagementDay
from services.metrics import queries
from testsupport.broker import read_topic
from testsupport.cohort import generate, truth_daily, truth_daytypes, truth_members, truth_weekly

from .conftest import ingest_client, metrics_client, send_cohort, unique_prefix, wait_until_sunk


def _subset(rows: list[dict], keys) -> list[dict]:
    return [{k: r[k] for k in keys} for r in rows]


def test_published_numbers_equal_the_independent_count(own_broker, jwt_secret, mint, admin_token, tmp_path):
    _, bootstrap = own_broker
    prefix = unique_prefix()
    g = generate(seed=11, members=54, cohort=f"acc-{prefix}", prefix=prefix)
    assert len(g.deliveries) > g.unique_events  # duplicates really are delivered
    nurse = {"Authorization": f"Bearer {mint('nurse-1', 'nurse', (g.cohort,))}"}
    with ingest_client(bootstrap, jwt_secret) as ingest, \
            metrics_client(bootstrap, jwt_secret, tmp_path / "chdb") as metrics:
        send_cohort(ingest, admin_token, g)
        wait_until_sunk(metrics.app.state.ch, g, prefix)

        weekly = metrics.get(f"/v1/cohorts/{g.cohort}/weekly", headers=nurse)
        assert weekly.status_code == 200, weekly.text
        assert weekly.json() == truth_weekly(g)
        assert [w["week"] for w in weekly.json()][:15] == list(range(1, 16))

        daily = metrics.get(f"/v1/cohorts/{g.cohort}/daily", headers=nurse).json()
        assert daily == truth_daily(g)
        window = metrics.get(f"/v1/cohorts/{g.cohort}/daily", params={"from": daily[10]["day"], "to": daily[20]["day"]},
                             headers=nurse).json()
        assert window == daily[10:21]

        members = metrics.get(f"/v1/cohorts/{g.cohort}/members", headers=nurse).json()
        truth = truth_members(g)
        assert _subset(members, truth[0].keys()) == truth
        assert 0 < sum(m["active"] for m in members) < len(members)
        assert sorted(m["member_id"] for m in members if m["withdrawn_on"]) == sorted(
            w["member_id"] for w in g.withdrawals
        )

        daytypes = metrics.get(f"/v1/cohorts/{g.cohort}/daytypes", headers=nurse).json()
        truth = truth_daytypes(g)
        assert [{k: v for k, v in d.items() if k != "actions_sd"} for d in daytypes] == \
            [{k: v for k, v in d.items() if k != "actions_sd"} for d in truth]
        for got, want in zip(daytypes, truth):
            assert got["actions_sd"] == pytest.approx(want["actions_sd"], rel=1e-12)

        # The faust member-day state (real time) agrees with ClickHouse (the published numbers) ...
        book = metrics.app.state.faust.books
        deadline = time.monotonic() + 90
        while sum(len(v) for b in book for (m, _), v in list(b.days.items()) if m.startswith(prefix)) < g.unique_events:
            assert time.monotonic() < deadline, "faust did not apply every event"
            time.sleep(0.2)
        ch = metrics.app.state.ch
        rows = [d for d in queries.cohort_days(ch, g.cohort)[1] if d.in_follow_up and d.complete]
        assert len(rows) == len(g.plan)
        stream_days = {}
        for row in rows:
            d = book.day(row.member_id, row.day)
            assert d.in_follow_up and d.day_number == row.day_number
            assert (d.logged_in, d.participated, d.completed, d.actions) == \
                (row.logged_in, row.participated, row.completed, row.actions)
            stream_days[(row.member_id, row.day)] = d
        # ... and so does what it published on engagement.daily (last value per member|day key).
        published = {}
        for record in read_topic(bootstrap, "engagement.daily", expect_at_least=len(stream_days) // 2, timeout_s=60):
            d = EngagementDay.model_validate_json(record.value)
            assert record.key.decode() == f"{d.member_id}|{d.day.isoformat()}"
            published[(d.member_id, d.day)] = d
        logged = {k: v for k, v in stream_days.items() if v.logged_in}
        assert {k: published.get(k) for k in logged} == logged
