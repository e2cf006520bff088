"""Acceptance: `python -m services.notifier` as a real process on a free port, the real broker, a
push-gateway receiver and an SMTP server. Five members in three time zones live through six
simulated days (a tick every 30 min); half-way the worker is SIGKILLed and restarted. Asserted
exactly: which alerts are raised, escalated, acknowledged and resolved (and when), which nurse
e-mails go out, and which reminders reach the push gateway — each once."""

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import httpx

from services.common.broker import free_port, wait_for_port
from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import World, unique
from .receivers import HttpReceiver, SmtpServer


def _metric(url: str, name: str) -> float:
    lines = [line for line in httpx.get(url + "/metrics").text.splitlines() if line.startswith(name + "{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines)


def _sleep(seconds: float) -> bool:
    import time as _time

    _time.sleep(seconds)
    return True

ENROLLED = date(2026, 9, 1)
SH, NY, BE = "Asia/Shanghai", "America/New_York", "Europe/Berlin"
SLOTS = (time(8), time(12), time(19))
START = datetime(2026, 8, 31, 16, tzinfo=timezone.utc)  # Shanghai day 1 00:00
END = datetime(2026, 9, 6, 4, tzinfo=timezone.utc)      # Shanghai day 6 12:00
KILL_AT = datetime(2026, 9, 4, 8, tzinfo=timezone.utc)  # Shanghai day 4 16:00, New York day 4 04:00


def local(zone: str, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime.combine(ENROLLED + timedelta(days=day - 1), time(hour, minute), tzinfo=ZoneInfo(zone))


class Service:
    def __init__(self, env: dict, log_path: str) -> None:
        self.env, self.log_path, self.process = env, log_path, None
        self.url = f"http://127.0.0.1:{env['NOTIFIER_PORT']}"

    def start(self) -> None:
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "services.notifier"], env=self.env, stdout=log,
                                        stderr=subprocess.STDOUT, cwd=os.getcwd())
        wait_for_port(int(self.env["NOTIFIER_PORT"]), timeout_s=60)
        wait_until(lambda: httpx.get(self.url + "/readyz").status_code == 200, what="notifier ready")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)


def test_simulated_week_with_a_worker_killed_half_way(own_broker, mint, jwt_secret, tmp_path):
    # A broker of its own: a new consumer group reads clock.ticks from the start, and other tests' ticks
    # (other simulated dates) on the shared broker would move this test's time.
    _, broker = own_broker
    world = World(broker)
    push, smtp = HttpReceiver(free_port()), SmtpServer(free_port())
    cohort = unique("c")
    m = {k: unique(f"m-{k}") for k in ("sh", "ny", "be", "rm", "wd")}
    zones = {"sh": SH, "ny": NY, "be": BE, "rm": BE, "wd": SH}
    world.configure(cohort, nurses=["n-a", "n-b"], lead_nurse="n-a")
    for k, member in m.items():
        world.enrol(member, cohort, zones[k], ENROLLED)
    world.withdraw(m["wd"], cohort, ENROLLED + timedelta(days=1))
    completed: set[tuple[str, date]] = set()  # member-days whose three tasks were done at 07:00
    for k, days in (("sh", (1, 2)), ("ny", (1,)), ("be", range(1, 8))):
        for d in days:
            for task in ("meal", "exercise", "meditation"):
                world.event(m[k], local(zones[k], d, 7), "checkin", task=task)
            completed.add((m[k], ENROLLED + timedelta(days=d - 1)))
    for d in range(1, 8):
        world.event(m["rm"], local(BE, d, 7))  # logs in daily, never does the tasks

    admin = {"Authorization": f"Bearer {mint('ops', 'admin')}"}
    nurse_a = {"Authorization": f"Bearer {mint('n-a', 'nurse', (cohort,))}"}
    port = free_port()
    env = os.environ | {
        "KAFKA_BOOTSTRAP": broker, "JWT_SECRET": jwt_secret, "NOTIFIER_PORT": str(port),
        "NOTIFIER_GROUP_ID": unique("notifier-acceptance"), "FAUST_DATADIR": str(tmp_path / "faust"),
        "NOTIFIER_PUSH_GATEWAY_URL": push.url, "NOTIFIER_SMTP_HOST": "127.0.0.1", "NOTIFIER_SMTP_PORT": str(smtp.controller.port),
        "NOTIFIER_REBUILD_IDLE_S": "0.3", "LOG_LEVEL": "WARNING", "ENSURE_TOPICS": "false",
        "NOTIFIER_COMMIT_INTERVAL_S": "600",  # nothing committed before the kill: everything is re-processed
    }
    service = Service(env, str(tmp_path / "notifier.log"))
    ticks = [START + timedelta(minutes=30 * i) for i in range(int((END - START) / timedelta(minutes=30)) + 1)]

    def drive(until: datetime) -> None:
        for now in [t for t in ticks if drive.last < t <= until]:
            world.tick(now)
            drive.last = now

    drive.last = START - timedelta(minutes=1)

    def ticks_done(until: datetime) -> bool:
        status = httpx.get(service.url + "/v1/notifier/status", headers=admin).json()
        return len(status["ticks_done"]) == 6 and min(datetime.fromisoformat(t) for t in status["ticks_done"].values()) >= until

    def ours(bodies, messages):  # the shared test broker also holds other tests' requests
        return ([b for b in bodies if b["recipient"] in m.values()],
                [(r, t) for r, t in messages if any(member in t for member in m.values())])

    def quiet() -> bool:  # every request on the log delivered (or dead-lettered), twice in a row
        def pending() -> int:
            return httpx.get(service.url + "/v1/notifier/status", headers=admin).json()["pending_deliveries"]
        return pending() == 0 and _sleep(0.3) and pending() == 0

    try:
        service.start()
        # New York misses its days 2 and 3 → alert at NY day 4 00:00; nurse n-a acknowledges it
        drive(local(NY, 4, 0))
        wait_until(lambda: ticks_done(local(NY, 4, 0)), what="first ticks")
        queue = httpx.get(service.url + "/v1/alerts", headers=nurse_a).json()
        assert [(a["member_id"], a["assigned_to"], a["status"]) for a in queue] == [(m["ny"], "n-a", "open")]
        assert httpx.post(f"{service.url}/v1/alerts/{queue[0]['alert_id']}/ack", headers=nurse_a).status_code == 200
        drive(KILL_AT)
        wait_until(lambda: ticks_done(KILL_AT), what="ticks before the kill")
        wait_until(quiet, what="deliveries settle")
        ours_before_kill = sum(map(len, ours(push.bodies, smtp.messages)))
        service.kill()  # faust commits offsets every few seconds: the last ticks/requests are re-processed
        service.start()
        # nothing was committed: the restarted worker re-reads every request of the first half and sends none again
        wait_until(lambda: _metric(service.url, "notifier_deliveries_deduplicated_total") >= ours_before_kill,
                   what="replayed requests recognised as delivered")
        drive(local(SH, 6, 9, 30))
        wait_until(lambda: ticks_done(local(SH, 6, 9, 30)), timeout_s=90, what="ticks after the restart")
        world.event(m["sh"], local(SH, 6, 9, 45))  # Shanghai comes back
        wait_until(lambda: datetime.fromisoformat(httpx.get(f"{service.url}/v1/members/{m['sh']}/engagement",
                                                            headers=admin).json()["last_activity"])
                   == local(SH, 6, 9, 45), what="login folded")
        drive(END)
        wait_until(lambda: ticks_done(END), what="all ticks")
        wait_until(quiet, what="deliveries settle")
    finally:
        service.stop()
        world.close()
        push.stop()
        smtp.stop()

    # before the kill: reminders sh 5 (day 3 + day 4 08/12), ny 6 (days 2-3), rm 10 (days 1-3 + day 4 08:00),
    # wd 3 (day 1: the withdrawal takes effect on day 2, its date, not when it was recorded), 1 e-mail
    assert ours_before_kill == 25
    bodies, messages = ours(push.bodies, smtp.messages)
    alerts = [json.loads(r.value) for r in read_topic(broker, "alerts", expect_at_least=5) if r.key.decode() in m.values()]
    steps = [(a["type"], a["member_id"], datetime.fromisoformat(a["occurred_at"]), a.get("assigned_to")) for a in alerts]
    steps.sort(key=lambda s: s[2])  # read_topic orders by partition
    assert Counter(a["event_id"] for a in alerts).most_common(1)[0][1] == 1, "an alert step was published twice"
    ny_ack = [s for s in steps if s[0] == "alert.acknowledged"]
    assert len(ny_ack) == 1 and ny_ack[0][1] == m["ny"]
    assert [s for s in steps if s[0] != "alert.acknowledged"] == [
        ("alert.raised", m["ny"], local(NY, 4, 0), "n-a"),
        ("alert.raised", m["sh"], local(SH, 5, 0), "n-b"),   # days 3+4 missed; n-a already has one
        ("alert.escalated", m["sh"], local(SH, 6, 0), "n-b"),  # 24 h unacknowledged
        ("alert.resolved", m["sh"], local(SH, 6, 10, 0), None),  # first tick after the comeback
    ]

    # nurse e-mails: each raise to its nurse, the escalation to the nurse and the lead nurse
    mails = sorted((rcpt[0], "ESCALATED" in text, m["sh"] in text) for rcpt, text in messages)
    assert mails == [("n-a@carecircle.local", False, False), ("n-a@carecircle.local", True, True),
                     ("n-b@carecircle.local", False, True), ("n-b@carecircle.local", True, True)]

    # reminders: exactly the slots of members in follow-up who had not done all tasks, once each
    expected = set()
    last_day = {"wd": ENROLLED}  # withdrawn from day 2 on
    for k in ("sh", "ny", "be", "rm", "wd"):
        zone = ZoneInfo(zones[k])
        for now in ticks:
            here = now.astimezone(zone)
            if here.time() in SLOTS and ENROLLED <= here.date() <= last_day.get(k, date.max) \
                    and (m[k], here.date()) not in completed:
                expected.add(f"reminder|{m[k]}|{here.date().isoformat()}|{here.strftime('%H:%M')}")
    got = Counter(b["dedup_key"] for b in bodies)
    assert [k for k, n in got.items() if n > 1] == [], "a reminder reached the gateway twice"
    assert set(got) == expected
    assert all(b["body"] == "Still to do today: meal, exercise, meditation." for b in bodies)
    assert not any(m["be"] in k for k in got)
    assert sorted(k.rsplit("|", 2)[1] for k in got if m["wd"] in k) == [ENROLLED.isoformat()] * 3
