"""`CareCircleClient.today()` reads the member's own day from the real notifier (on the real broker)."""

from datetime import date

from carecircle_client import CareCircleClient, ClientError
from services.notifier.tests.conftest import World, notifier_client, notifier_settings, unique
from testsupport.polling import wait_until


def test_today_shows_which_tasks_are_done(broker, jwt_secret, mint, tmp_path):
    world = World(broker)
    cohort, me = unique("c-cl-today"), unique("m-cl")
    world.configure(cohort, tasks=["meal", "meditation"])
    world.enrol(me, cohort, "UTC", date(2026, 9, 1))
    with notifier_client(notifier_settings(broker, jwt_secret, str(tmp_path))) as http:
        state = http.app.state.runtime.state
        http.portal.call(http.app.state.runtime.rebuilt.wait)
        wait_until(lambda: me in state.members and cohort in state.cohorts, what="enrolment")
        world.event(me, state.now(), "checkin", task="meditation")
        wait_until(lambda: state.days.get(me), what="check-in folded")
        client = CareCircleClient("http://ingest.invalid", mint(me), notifier_url=str(http.base_url), http=http,
                                  flush_interval_s=None)
        day = client.today()
        assert [(t["task"], t["done"]) for t in day["tasks"]] == [("meal", False), ("meditation", True)]
        stranger = CareCircleClient("http://ingest.invalid", mint(unique("m-none")), notifier_url=str(http.base_url),
                                    http=http, flush_interval_s=None)
        try:
            stranger.today()
            raise AssertionError("a member without enrolment got a day")
        except ClientError as exc:
            assert exc.status == 404
    world.close()
