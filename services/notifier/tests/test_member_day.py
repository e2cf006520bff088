"""`GET /v1/members/me/today` on the real broker: a member reads their own day, nothing else."""

from datetime import date

from testsupport.polling import wait_until

from .conftest import notifier_client, notifier_settings, unique


def test_a_member_reads_their_own_day_and_only_theirs(broker, world, jwt_secret, mint, tmp_path):
    cohort = unique("c-today")
    world.configure(cohort, tasks=["meal", "exercise"], reminder_times=["08:00", "19:00"])
    me, other = unique("m-me"), unique("m-other")
    for member in (me, other):
        world.enrol(member, cohort, "UTC", date(2026, 9, 1))

    with notifier_client(notifier_settings(broker, jwt_secret, str(tmp_path))) as client:
        runtime, state = client.app.state.runtime, client.app.state.runtime.state
        client.portal.call(runtime.rebuilt.wait)
        wait_until(lambda: cohort in state.cohorts and me in state.members and other in state.members, what="members")
        now = state.now()  # the platform's "now" (the latest tick) decides which day is today
        world.event(me, now, "checkin", task="meal")
        world.event(other, now, "checkin", task="exercise")
        wait_until(lambda: state.days.get(me) and state.days.get(other), what="events folded")

        response = client.get("/v1/members/me/today", headers={"Authorization": f"Bearer {mint(me)}"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["member_id"] == me and body["day"] == now.date().isoformat() and body["timezone"] == "UTC"
        assert body["tasks"] == [{"task": "meal", "done": True}, {"task": "exercise", "done": False}]
        assert [r["at"] for r in body["reminders"]] == ["08:00", "19:00"]

        # Another member's id in the query or a staff token gets nothing of `me`'s day.
        assert client.get(f"/v1/members/me/today?member_id={other}",
                          headers={"Authorization": f"Bearer {mint(me)}"}).json()["member_id"] == me
        assert client.get("/v1/members/me/today",
                          headers={"Authorization": f"Bearer {mint('n-1', 'nurse', (cohort,))}"}).status_code == 403
        assert client.get("/v1/members/me/today").status_code == 401
        unknown = client.get("/v1/members/me/today", headers={"Authorization": f"Bearer {mint(unique('m-new'))}"})
        assert unknown.status_code == 404 and "enrolment" in unknown.json()["detail"]
