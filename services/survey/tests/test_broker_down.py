"""When the broker does not acknowledge, nothing is reported as stored and the book is unchanged."""

from datetime import date, datetime, timezone

from .conftest import Driver, survey_client, unique


def test_response_is_503_and_not_recorded_when_the_broker_is_down(own_broker, jwt_secret, mint):
    holder, bootstrap = own_broker
    member, cohort = unique("m"), unique("c")
    with survey_client(bootstrap, jwt_secret, delivery_timeout_ms=2000) as client:
        driver = Driver(client)
        driver.wait_rebuilt()
        driver.enrol(member, cohort, "Asia/Shanghai", date(2026, 11, 2))
        driver.tick(datetime(2026, 11, 2, 1, tzinfo=timezone.utc))
        me = {"Authorization": f"Bearer {mint(member)}"}
        (pending,) = client.get("/v1/surveys/pending", headers=me).json()
        holder["process"].kill()  # SIGKILL: with clients connected, tansu takes 5 s to stop on SIGTERM
        holder["process"].wait(10)
        response = client.post(f"/v1/surveys/{pending['invitation_id']}/responses", headers=me,
                               json={"items": {"29": 4}})
        assert response.status_code == 503 and "retry" in response.json()["detail"]
        assert client.get("/v1/surveys/pending", headers=me).json() == [pending]  # still open, nothing folded
        assert client.get("/readyz").status_code == 503
