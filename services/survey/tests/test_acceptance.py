"""Acceptance: the whole service (API + faust agents) on the real broker, driven through the ingest
API exactly as in production: enrolments, withdrawals and `POST /v1/admin/clock` ticks.

Members in three time zones walk through the whole schedule; every invitation, reminder and expiry
must carry the tick time equal to 09:00 on the right local day (a tick one minute earlier exists, so
nothing fired early), and withdrawal cancels what is pending. Half-way the survey service is
restarted with a fresh consumer group, so it replays every member event and tick from offset 0 onto
the book rebuilt from `surveys`: the schedule goes on without a repeated step.
"""

import json
from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

from fastapi.testclient import TestClient

from contracts.topics import MEMBER_PARTITIONS
from services.ingest.app import create_app as create_ingest
from services.ingest.settings import IngestSettings
from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import survey_client, unique

ENROLLED = date(2026, 10, 20)
ZONES = {"sh": "Asia/Shanghai", "ny": "America/New_York", "be": "Europe/Berlin"}  # NY and Berlin cross DST end
STEP_DAYS = {  # follow-up day of each step: invite, reminder 1, reminder 2, expiry
    "T0": (1, 2, 4, 8), "T1": (14, 15, 17, 21), "T2": (28, 29, 31, 35), "post": (29, 30, 32, 36)}
KINDS = ("survey.invited", "survey.reminded", "survey.reminded", "survey.expired")


def nine_local(zone: str, day: int) -> datetime:
    return datetime.combine(ENROLLED + timedelta(days=day - 1), clock(9), tzinfo=ZoneInfo(zone))


class World:
    def __init__(self, broker, jwt_secret, mint, datadir):
        self.datadir = str(datadir)
        self.broker, self.jwt_secret = broker, jwt_secret
        self.admin = {"Authorization": f"Bearer {mint('ops', 'admin')}"}
        self.ingest = TestClient(create_ingest(IngestSettings(kafka_bootstrap=broker, jwt_secret=jwt_secret)))

    def survey(self, group: str) -> TestClient:
        return survey_client(self.broker, self.jwt_secret, run_stream=True, group_id=group,
                             faust_datadir=self.datadir)

    def walk(self, survey: TestClient, moments: list[datetime]) -> None:
        """Tick one minute before and at each moment; each partition sees its ticks in order, so the
        test waits only until the last tick has been handled on every partition."""
        ticks = sorted({m - timedelta(minutes=1) for m in moments} | set(moments))
        for now in ticks:
            response = self.ingest.post("/v1/admin/clock", headers=self.admin, json={"now": now.isoformat()})
            assert response.status_code == 202
        done = survey.app.state.runtime.ticks_done
        wait_until(lambda: len(done) == MEMBER_PARTITIONS and min(done.values()) >= ticks[-1], what=f"tick {ticks[-1]}")


def test_members_in_three_zones_walk_the_whole_schedule_across_a_restart(own_broker, jwt_secret, mint, tmp_path):
    # A broker of its own: other tests' clock ticks (any date) must not move this test's time.
    _, broker = own_broker
    world = World(broker, jwt_secret, mint, tmp_path)
    cohort = unique("c")
    members = {key: unique(f"m-{key}") for key in ZONES}
    berlin_t0 = nine_local(ZONES["be"], 1)
    expected_times = sorted(
        {nine_local(ZONES[k], d) for k in ("sh", "ny") for days in STEP_DAYS.values() for d in days}
    )
    first_half = [t for t in expected_times if berlin_t0 < t < nine_local("Asia/Shanghai", 15)]
    second_half = [t for t in expected_times if t >= nine_local("Asia/Shanghai", 15)]
    with world.ingest:
        with world.survey(unique("survey-a")) as survey:
            wait_until(lambda: survey.get("/readyz").status_code == 200, what="survey ready")
            for key, zone in ZONES.items():
                body = {"member_id": members[key], "cohort": cohort, "timezone": zone, "enrolled_on": str(ENROLLED)}
                assert world.ingest.post("/v1/enrollments", headers=world.admin, json=body).status_code == 202
            book = survey.app.state.runtime.book
            wait_until(lambda: all(len(book.member_invitations(m)) == 4 for m in members.values()), what="scheduled")
            # Berlin is invited to T0, then withdraws before any reminder
            world.walk(survey, [t for t in expected_times if t < berlin_t0] + [berlin_t0])
            assert [i.status for i in book.member_invitations(members["be"])] == ["invited"] + ["scheduled"] * 3
            body = {"member_id": members["be"], "cohort": cohort, "withdrawn_on": "2026-10-21"}
            assert world.ingest.post("/v1/withdrawals", headers=world.admin, json=body).status_code == 202
            wait_until(lambda: book.members[members["be"]].follow_up.is_withdrawn, what="withdrawal folded")
            # Dated tomorrow: it takes effect on its date (the first tick from Berlin's midnight on).
            assert [i.status for i in book.member_invitations(members["be"])] == ["invited"] + ["scheduled"] * 3
            world.walk(survey, first_half)
            wait_until(lambda: book.member_invitations(members["be"])[0].status == "cancelled",
                       what="withdrawal cancels the sent invitation on its date")
        # Restart as the worst case of lost or short (tansu) committed offsets: a NEW consumer group
        # replays every enrolment, withdrawal and tick from offset 0 onto the book rebuilt from
        # `surveys`; nothing may be published twice and the schedule must go on.
        with world.survey(unique("survey-b")) as survey:
            wait_until(lambda: survey.get("/readyz").status_code == 200, what="survey ready after restart")
            world.walk(survey, second_half)
            pending = survey.get("/v1/surveys/pending", headers={"Authorization": f"Bearer {mint(members['sh'])}"})
            assert pending.status_code == 200 and pending.json() == []

    records = [json.loads(r.value) for r in read_topic(broker, "surveys", expect_at_least=40)
               if r.key.decode() in members.values()]
    counts = Counter(r["event_id"] for r in records)
    assert [e for e, n in counts.items() if n > 1] == [], "a step was published twice"
    for key in ("sh", "ny"):
        zone = ZoneInfo(ZONES[key])
        steps = [r for r in records if r["member_id"] == members[key] and r["type"] not in ("survey.scheduled",)]
        for timepoint, days in STEP_DAYS.items():
            got = [(r["type"], datetime.fromisoformat(r["occurred_at"]).astimezone(zone).replace(tzinfo=None),
                    r.get("reminder")) for r in steps if r["timepoint"] == timepoint]
            want = [(kind, datetime.combine(ENROLLED + timedelta(days=d - 1), clock(9)), n)
                    for kind, d, n in zip(KINDS, days, (None, 1, 2, None))]
            assert got == want, (key, timepoint)
    berlin = [
        (r["type"], r["timepoint"])
        for r in records
        if r["member_id"] == members["be"] and r["type"] != "survey.scheduled"
    ]
    assert berlin == [("survey.invited", "T0")] + [("survey.cancelled", tp) for tp in ("T0", "T1", "T2", "post")]

    notes = [json.loads(r.value) for r in read_topic(broker, "notifications.outbound", expect_at_least=25)
             if r.key.decode() in members.values()]
    by_member = Counter((n["recipient"], n["kind"]) for n in notes)
    for key in ("sh", "ny"):
        assert by_member[(members[key], "survey_invitation")] == 4 and by_member[(members[key], "survey_reminder")] == 8
    assert by_member[(members["be"], "survey_invitation")] == 1 and by_member[(members["be"], "survey_reminder")] == 0
    assert len({n["dedup_key"] for n in notes}) == len(notes)
