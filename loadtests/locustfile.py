"""Locust load test: app users and nurses against a running stack (`make run`, then `make loadtest`).

App users each hold their own member token (minted with JWT_SECRET, the dev secret by default):
the morning login, meal and exercise check-ins, meditation plays, community posts, opening a
reminder (which logs in and looks for pending questionnaires). Nurses poll their call queue.
Hosts: INGEST_URL (default the --host), NOTIFIER_URL, SURVEY_URL."""

from __future__ import annotations

import os
import random
from datetime import datetime, timezone
from uuid import uuid4

from locust import FastHttpUser, between, events, task

from services.common.auth import mint_token
from services.common.settings import DEV_JWT_SECRET

SECRET = os.environ.get("JWT_SECRET", DEV_JWT_SECRET)
COHORT = os.environ.get("LOADTEST_COHORT", "loadtest")
NOTIFIER_URL = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8003")
SURVEY_URL = os.environ.get("SURVEY_URL", "http://127.0.0.1:8004")
NURSES = ("lt-nurse-1", "lt-nurse-2", "lt-nurse-3")
ADMIN = {"Authorization": f"Bearer {mint_token(SECRET, 'loadtest-admin', 'admin')}"}


@events.test_start.add_listener
def configure_cohort(environment, **_):
    """The load-test cohort has three nurses, like the study."""
    import httpx

    host = environment.host or "http://127.0.0.1:8001"
    response = httpx.put(f"{host}/v1/cohorts/{COHORT}/settings", headers=ADMIN,
                         json={"nurses": list(NURSES), "lead_nurse": NURSES[0]}, timeout=10)
    response.raise_for_status()


def now() -> str:
    return datetime.now(timezone.utc).isoformat()


class AppUser(FastHttpUser):
    """A member using the app through the day."""

    weight = 20
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.member = f"lt-{uuid4().hex[:12]}"
        self.auth = {"Authorization": f"Bearer {mint_token(SECRET, self.member)}"}
        enrolment = {
            "member_id": self.member,
            "cohort": COHORT,
            "enrolled_on": datetime.now(timezone.utc).date().isoformat(),
            "timezone": random.choice(["Asia/Shanghai", "Europe/Berlin", "America/New_York"]),
        }
        self.client.post("/v1/enrollments", json=enrolment, headers=ADMIN, name="POST /v1/enrollments")
        self.send("login", {})

    def send(self, kind: str, payload: dict, name: str | None = None) -> None:
        event = {"event_id": str(uuid4()), "type": kind, "member_id": self.member, "occurred_at": now(),
                 "payload": payload}
        with self.client.post("/v1/events", json=event, headers=self.auth, name=name or f"POST /v1/events [{kind}]",
                              catch_response=True) as response:
            if response.status_code != 202:
                response.failure(f"{response.status_code}: {response.text[:200]}")

    @task(2)
    def morning_login(self) -> None:
        self.send("login", {})

    @task(3)
    def meal_checkin(self) -> None:
        self.send("checkin", {"task": "meal"}, name="POST /v1/events [checkin meal]")

    @task(3)
    def exercise_checkin(self) -> None:
        self.send("checkin", {"task": "exercise", "steps": random.randint(500, 12_000)},
                  name="POST /v1/events [checkin exercise]")

    @task(2)
    def meditation(self) -> None:
        self.send("meditation_play", {"content_id": "breathing-01", "seconds": random.randint(60, 900),
                                      "completed": random.random() < 0.7})

    @task(1)
    def post(self) -> None:
        self.send("post", {"channel": random.choice(["community", "chat_room", "buddy"]), "topic": "diet"})

    @task(1)
    def reminder_opened(self) -> None:
        """A push reminder opens the app: a login, then the pending questionnaires."""
        self.send("login", {}, name="POST /v1/events [reminder opened]")
        self.client.get(f"{SURVEY_URL}/v1/surveys/pending", headers=self.auth, name="GET /v1/surveys/pending")


class Nurse(FastHttpUser):
    """A nurse keeping the call queue open."""

    weight = 1
    wait_time = between(2, 5)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {mint_token(SECRET, random.choice(NURSES), 'nurse', (COHORT,))}"}

    @task
    def poll_queue(self) -> None:
        self.client.get(f"{NOTIFIER_URL}/v1/alerts?status=open", headers=self.auth, name="GET /v1/alerts?status=open")
