"""Enumeration across cohorts (docs/security.md, "Access"): staff of another cohort get the same 404,
without the cohort's name, for a real member or alert as for an id that does not exist (a cohort's
name can reveal a diagnosis). Real broker; the notifier folds the real topics."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from services.notifier.tests.conftest import World, notifier_client, notifier_settings, unique
from testsupport.polling import wait_until

ENROLLED = date(2026, 9, 1)


def test_staff_of_another_cohort_cannot_tell_real_ids_from_unknown_ones(broker, jwt_secret, mint, tmp_path,
                                                                          fault_report):
    cohort = unique("c-oncology-breast")
    world = World(broker)
    world.configure(cohort, nurses=["n-a"], lead_nurse="n-a")
    member = unique("m-enum")
    world.enrol(member, cohort, "UTC", ENROLLED)
    world.close()
    own = {"Authorization": f"Bearer {mint('n-a', 'nurse', (cohort,))}"}
    stranger = {"Authorization": f"Bearer {mint('n-x', 'nurse', ('c-other',))}"}
    with notifier_client(notifier_settings(broker, jwt_secret, str(tmp_path))) as client:
        runtime = client.app.state.runtime
        client.portal.call(runtime.rebuilt.wait)
        wait_until(lambda: member in runtime.state.members, what="enrolment folded")
        now = datetime.combine(ENROLLED + timedelta(days=4), time(0, 0), tzinfo=ZoneInfo("UTC"))
        tick = json.dumps({"type": "clock.tick", "event_id": "00000000-0000-4000-8000-000000000000",
                           "now": now.isoformat()}).encode()
        for partition in range(6):
            client.portal.call(runtime.on_tick_record, partition, tick)
        alerts = client.get("/v1/alerts", headers=own).json()
        alert_id = next(a["alert_id"] for a in alerts if a["member_id"] == member)

        probes = [("GET", f"/v1/members/{member}/engagement"), ("GET", f"/v1/alerts/{alert_id}"),
                  ("POST", f"/v1/alerts/{alert_id}/ack")]
        unknown = [("GET", "/v1/members/m-does-not-exist/engagement"),
                   ("GET", "/v1/alerts/00000000-0000-4000-8000-00000000dead"),
                   ("POST", "/v1/alerts/00000000-0000-4000-8000-00000000dead/ack")]
        for (method, real), (_, missing) in zip(probes, unknown):
            seen = client.request(method, real, headers=stranger)
            baseline = client.request(method, missing, headers=stranger)
            assert (seen.status_code, seen.json()) == (baseline.status_code, baseline.json()) == \
                (404, baseline.json()), (real, seen.text, baseline.text)
            assert cohort not in seen.text and member not in seen.text
        assert client.get(f"/v1/members/{member}/engagement", headers=own).status_code == 200
    fault_report.add("enumeration", inputs_tried=2 * len(probes), requests_refused_correctly=2 * len(probes))
