"""The nurse console in headless Chromium: the queue oldest first with last activity and recent days,
a symptom alert with its kind, scales and values, a click on "Acknowledge" that reaches the `alerts`
topic, and a screenshot whose pixels show it."""

import asyncio
import json
import struct
import threading
import zlib
from datetime import date, datetime, timezone
from uuid import uuid4

import uvicorn
from playwright.sync_api import sync_playwright

from contracts.alerts import AlertRaised, ScaleFinding
from services.common.broker import free_port
from services.common.kafka import Publisher, Record
from services.notifier.app import create_app
from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import notifier_settings, unique

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
ACKNOWLEDGED_RGB = (0x8A, 0x5A, 0x00)  # .status.acknowledged in console.html


def png_pixels(data: bytes) -> list[tuple[int, ...]]:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) into pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and color in (2, 6)
            channels = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw, stride, previous, pixels = zlib.decompress(idat), width * channels, bytearray(width * channels), []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - channels] if i >= channels else 0
            b, c = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels += [tuple(line[x:x + 3]) for x in range(0, stride, channels)]
        previous = line
    return pixels


def raised(member: str, cohort: str, at: datetime) -> AlertRaised:
    return AlertRaised(event_id=uuid4(), alert_id=uuid4(), member_id=member, cohort=cohort, occurred_at=at,
                       rule="intervention_inactive", since=date(2026, 9, 2), through=date(2026, 9, 3), missed_days=2,
                       window_days=2, last_login_on=date(2026, 9, 1), assigned_to="n-a")


def test_nurse_acknowledges_the_oldest_alert_in_the_browser(broker, world, jwt_secret, mint, tmp_path):
    cohort = unique("c")
    old, new = unique("m-old"), unique("m-new")
    for member in (old, new):
        world.enrol(member, cohort, "Asia/Shanghai", date(2026, 9, 1))
    world.event(old, datetime(2026, 9, 1, 9, tzinfo=timezone.utc))
    first = raised(old, cohort, datetime(2026, 9, 3, 16, tzinfo=timezone.utc))
    second = raised(new, cohort, datetime(2026, 9, 4, 16, tzinfo=timezone.utc)).model_copy(update={
        "kind": "symptom", "rule": "symptom_scores", "timepoint": "T1", "missed_days": 0, "window_days": 1,
        "scales": (ScaleFinding(scale="PA", value=66.67, reason="threshold", limit=25),
                   ScaleFinding(scale="PF2", value=86.67, reason="worsening", limit=10, previous=100))})
    publisher = Publisher(broker)
    asyncio.run(publisher.publish([Record("alerts", e.member_id.encode(), e.model_dump_json().encode())
                                   for e in (second, first)]))
    publisher.close()

    port = free_port()
    app = create_app(notifier_settings(broker, jwt_secret, str(tmp_path)), run_stream=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        runtime = app.state.runtime
        wait_until(lambda: server.started and runtime.rebuilt.is_set() and len(runtime.state.days.get(old, {})) == 1
                   and second.alert_id in runtime.state.queue.alerts, what="notifier up with the alerts")
        token = mint("n-a", "nurse", (cohort,))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 600}, timezone_id="UTC")
            page.goto(f"http://127.0.0.1:{port}/#token={token}")  # a fragment never reaches the server
            rows = page.locator("#queue tbody tr")
            rows.first.wait_for()
            assert [rows.nth(i).get_attribute("data-member") for i in range(rows.count())] == [old, new]  # oldest first
            assert "2026-09-01 09:00 UTC" in rows.first.inner_text()  # last activity
            assert rows.first.locator(".day.in").count() == 1
            assert "inactivity" in rows.first.inner_text()
            symptom = rows.nth(1).inner_text()
            assert "symptoms" in symptom and "QLQ-C30 T1" in symptom
            assert (
                "pain (PA) 66.7: above 25" in symptom and "physical functioning (PF2) 86.7: down from 100.0" in symptom
            )
            page.select_option("#kind", "symptom")  # the kind filter reloads the queue
            page.locator(f'tr[data-member="{old}"]').wait_for(state="detached")  # (CSP: no wait_for_function)
            assert rows.count() == 1 and rows.first.get_attribute("data-member") == new
            page.select_option("#kind", "")
            page.locator(f'tr[data-member="{old}"]').wait_for()
            page.fill("#zone", "Asia/Shanghai")  # the nurse's zone: times shown in it
            page.dispatch_event("#zone", "change")
            page.get_by_text("2026-09-01 17:00 Asia/Shanghai").wait_for()
            rows.first.locator("button.panel").click()  # the member panel before the call
            page.locator("#panel").wait_for()
            assert (
                old in page.locator("#panel-title").inner_text()
                and "last 28 days" in page.locator("#panel-title").inner_text()
            )
            assert page.locator("#panel-days .day.in").count() == 1
            assert "inactivity: open" in page.locator("#panel-alerts").inner_text()
            rows.first.locator("button.ack").click()
            page.wait_for_selector(f'tr[data-member="{old}"] .status.acknowledged')
            assert rows.first.locator("button.ack").count() == 0
            shot = page.locator(f'tr[data-member="{old}"] .status').screenshot()
            browser.close()
        ack_pixels = [px for px in png_pixels(shot) if all(abs(a - b) <= 30 for a, b in zip(px, ACKNOWLEDGED_RGB))]
        assert len(ack_pixels) >= 10, "the status is not drawn in the acknowledged colour"
        assert runtime.state.queue.alerts[first.alert_id].acknowledged_by == "n-a"
        assert runtime.state.queue.alerts[second.alert_id].status == "open"
    finally:
        server.should_exit = True
        thread.join(20)
    acks = [json.loads(r.value) for r in read_topic(broker, "alerts", expect_at_least=3) if r.key.decode() == old]
    assert [(a["type"], a.get("by")) for a in acks] == [("alert.raised", None), ("alert.acknowledged", "n-a")]
