"""End to end on the running services (subprocesses on free ports, the real broker, the real chDB):
the simulator's `--study` run reports zero differences, member tokens work, and a number the platform
gets wrong is caught."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import date, datetime, time, timezone
from time import monotonic, sleep
from zoneinfo import ZoneInfo

from loadtests.scenario import rates_cohort
from loadtests.simulate import Platform, replay, wait_for_platform

from .conftest import REPO


def test_study_run_reports_zero_differences(stack):
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.simulate", "--study", "--ingest-url", stack.urls["ingest"],
         "--metrics-url", stack.urls["metrics"], "--jwt-secret", stack.secret, "--timeout", "90"],
        cwd=REPO, capture_output=True, text=True, timeout=240, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    out = result.stdout
    assert "platform equals ground truth: 0 differences" in out
    assert "30 members, 0 withdrawals" in out
    assert "each reproduced: yes" in out and "W13 login 26.8" in out and "W14 login 23.6" in out
    # the table shows week 15 (210 member-days) with the paper's login and participation reached exactly
    week15 = next(line for line in out.splitlines() if line.strip().startswith("│   15 │") or line.strip().startswith("│ 15 "))
    assert "32.9 / 32.9 / 32.9" in week15 and "19.0 / 19.0 / 19.0" in week15


def test_member_tokens_three_zones_and_a_wrong_number_is_caught(stack):
    cohort = f"e2e-{uuid.uuid4().hex[:6]}"
    # After the study's clock (March-June, same stack): ingest refuses events more than 30 days before
    # the latest tick. Three weeks across both DST ends (Europe 25 October, America 1 November).
    sim = rates_cohort(members=12, weeks=3, seed=4, cohort=cohort, prefix=cohort, withdrawal_share=0.3,
                       start=date(2026, 10, 19))
    platform = Platform(stack.urls["ingest"], stack.urls["metrics"], stack.secret)
    sent = replay(sim, platform, tick_hours=12, member_tokens=True)
    assert sent == len(sim.schedule)
    answer, diffs = wait_for_platform(sim, platform, timeout_s=60)
    assert diffs == [], diffs[:5]
    assert len(answer["members"]) == 12

    # a login the ground truth does not know about, on a day the member did not log in
    day = next(d for d in sim.cohort.plan if not d.logged_in and d.day_number <= 7)
    zone = next(e["timezone"] for e in sim.cohort.enrolments if e["member_id"] == day.member_id)
    at = datetime.combine(day.day, time(10), ZoneInfo(zone)).astimezone(timezone.utc)
    platform.send("POST", platform.ingest("/v1/events"), [{"event_id": str(uuid.uuid4()), "type": "login",
                  "member_id": day.member_id, "occurred_at": at.isoformat(), "payload": {}}])
    wanted = {("weekly", "1", "logged_in_days"), ("members", day.member_id, "logged_in_days")}
    deadline = monotonic() + 60
    while True:  # the sink takes a moment: poll (with a deadline) until the extra login shows
        _, diffs = wait_for_platform(sim, platform, timeout_s=0)
        found = {(d.endpoint, d.row, d.field) for d in diffs}
        if found >= wanted or monotonic() > deadline:
            break
        sleep(0.3)
    assert found >= wanted, found
