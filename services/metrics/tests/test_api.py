"""API access and input errors, and the "today" rule, on a small generated cohort (real broker + chDB)."""

from __future__ import annotations

from testsupport.cohort import generate, truth_weekly

from .conftest import ingest_client, metrics_client, send_cohort, unique_prefix, wait_until_sunk


def test_access_errors_and_today(own_broker, jwt_secret, mint, admin_token, tmp_path):
    _, broker = own_broker  # its own clock.ticks: the test rewrites the latest tick
    prefix = unique_prefix()
    g = generate(seed=3, members=6, weeks=3, cohort=f"api-{prefix}", prefix=prefix)
    path = f"/v1/cohorts/{g.cohort}"
    with ingest_client(broker, jwt_secret) as ingest, \
            metrics_client(broker, jwt_secret, tmp_path / "chdb", run_stream=False) as metrics:
        send_cohort(ingest, admin_token, g)
        ch = metrics.app.state.ch
        wait_until_sunk(ch, g, prefix)
        nurse = {"Authorization": f"Bearer {mint('n1', 'nurse', (g.cohort,))}"}
        other = {"Authorization": f"Bearer {mint('n2', 'nurse', ('elsewhere',))}"}
        member = {"Authorization": f"Bearer {mint(prefix + '-000', 'member', (g.cohort,))}"}
        admin = {"Authorization": f"Bearer {admin_token}"}

        for route in ("weekly", "daily", "members", "daytypes", "summary"):
            assert metrics.get(f"{path}/{route}").status_code == 401
            assert metrics.get(f"{path}/{route}", headers=member).status_code == 403
            r = metrics.get(f"{path}/{route}", headers=other)
            assert r.status_code == 403 and g.cohort not in r.json()["detail"]
            assert metrics.get(f"/v1/cohorts/nobody-{prefix}/{route}", headers=admin).status_code == 404
            assert metrics.get(f"{path}/{route}", headers=nurse).status_code == 200

        r = metrics.get(f"{path}/daily", params={"from": "2026-13-01"}, headers=nurse)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "from"]
        r = metrics.get(f"{path}/daily", params={"from": "2026-08-05", "to": "2026-08-01"}, headers=nurse)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "from"]
        assert metrics.get("/v1/cohorts/bad cohort!/weekly", headers=admin).status_code == 422

        assert metrics.get(f"{path}/weekly", headers=nurse).json() == truth_weekly(g)

        # "today" is the latest clock.tick, as a local day in each member's zone; only the days before
        # it are complete follow-up days.
        def follow_up_days_at(now: str) -> dict[str, int]:
            ch.command("TRUNCATE TABLE clock_ticks")
            ch.command("INSERT INTO clock_ticks (event_id, now) VALUES ('t', {now:String})", {"now": now})
            return {m["member_id"]: m["follow_up_days"] for m in metrics.get(f"{path}/members", headers=nurse).json()}

        shanghai, new_york = f"{prefix}-000", f"{prefix}-001"  # enrolled 2026-07-27 and 2026-07-28
        days = follow_up_days_at("2026-07-29 15:59:59")  # 23:59:59 in Shanghai, 11:59 in New York
        assert (days[shanghai], days[new_york]) == (2, 1)
        days = follow_up_days_at("2026-07-30 03:30:00")  # 11:30 on 07-30 in Shanghai, 23:30 on 07-29 in New York
        assert (days[shanghai], days[new_york]) == (3, 1)
        days = follow_up_days_at("2026-07-30 04:00:00")  # midnight in New York
        assert days[new_york] == 2

        assert metrics.get("/healthz").status_code == 200
        assert "metrics_sink_rows_total" in metrics.get("/metrics").text
