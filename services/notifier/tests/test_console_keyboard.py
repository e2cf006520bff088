"""A nurse's day by keyboard in headless Chromium (real broker): j/k select alerts, Enter opens the
member panel of the last 28 days, Esc closes it, a acknowledges, r resolves after a confirmation,
/ finds a member; times in the browser's zone; the actions reach the `alerts` topic; screenshots of the
selected row and of the panel are checked by their pixels."""

import asyncio
import json
import threading
from datetime import date, datetime, timezone

import uvicorn
from playwright.sync_api import sync_playwright

from services.common.broker import free_port
from services.common.kafka import Publisher, Record
from services.notifier.app import create_app
from testsupport.broker import read_topic
from testsupport.polling import wait_until

from .conftest import notifier_settings, unique
from .test_console import CHROMIUM_ARGS, png_pixels, raised

SELECTED_OUTLINE_RGB = (0x1F, 0x5F, 0x8B)  # #queue tr.selected outline in console.css
LOGGED_IN_RGB = (0x9E, 0xCB, 0xFF)  # .day.in: a day with a login


def _near(pixels, rgb, tolerance=30) -> int:
    return sum(1 for px in pixels if all(abs(a - b) <= tolerance for a, b in zip(px, rgb)))


def test_keyboard_moves_opens_acknowledges_resolves_and_finds(broker, world, jwt_secret, mint, tmp_path):
    cohort = unique("c")
    first, second, third = unique("m-a"), unique("m-b"), unique("m-c")
    for member in (first, second, third):
        world.enrol(member, cohort, "Europe/Paris", date(2026, 9, 1))
    for day in (1, 2, 4):
        world.event(first, datetime(2026, 9, day, 8, tzinfo=timezone.utc))
    alerts = [raised(member, cohort, datetime(2026, 9, 5 + i, 16, tzinfo=timezone.utc))
              for i, member in enumerate((first, second, third))]
    publisher = Publisher(broker)
    asyncio.run(publisher.publish([Record("alerts", a.member_id.encode(), a.model_dump_json().encode())
                                   for a in alerts]))
    publisher.close()

    port = free_port()
    app = create_app(notifier_settings(broker, jwt_secret, str(tmp_path)), run_stream=False)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        runtime = app.state.runtime
        wait_until(lambda: server.started and runtime.rebuilt.is_set() and len(runtime.state.days.get(first, {})) == 3
                   and all(a.alert_id in runtime.state.queue.alerts for a in alerts),
                   what="notifier up with the alerts")
        token = mint("n-a", "nurse", (cohort,))
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900}, timezone_id="America/New_York")
            page.on("dialog", lambda dialog: dialog.accept())  # the confirmation before resolving
            page.goto(f"http://127.0.0.1:{port}/#token={token}")
            rows = page.locator("#queue tbody tr")
            rows.first.wait_for()
            assert rows.count() == 3
            # No zone typed in: the browser's zone (16:00 UTC is 12:00 in New York in September).
            assert "2026-09-05 12:00 America/New_York" in rows.first.inner_text()
            selected = page.locator("#queue tbody tr.selected")

            page.keyboard.press("j")
            assert selected.get_attribute("data-member") == first
            page.keyboard.press("j")
            page.keyboard.press("j")
            page.keyboard.press("j")  # stops at the last row
            assert selected.get_attribute("data-member") == third
            page.keyboard.press("k")
            page.keyboard.press("k")
            assert selected.get_attribute("data-member") == first
            assert page.evaluate("document.activeElement.dataset.member") == first  # focus follows the selection
            row_shot = selected.screenshot()

            page.keyboard.press("Enter")  # the member panel before the call
            page.locator("#panel").wait_for()
            assert first in page.locator("#panel-title").inner_text()
            assert "last 28 days" in page.locator("#panel-title").inner_text()
            assert page.locator("#panel-days .day.in").count() == 3
            assert "inactivity: open" in page.locator("#panel-alerts").inner_text()
            panel_shot = page.locator("#panel").screenshot()
            page.keyboard.press("Escape")
            page.locator("#panel").wait_for(state="hidden")

            page.keyboard.press("a")
            page.wait_for_selector(f'tr[data-member="{first}"] .status.acknowledged')
            assert selected.get_attribute("data-member") == first  # the selection survives the reload
            assert f"{first}: acknowledged." in page.locator("#message").inner_text()

            page.keyboard.press("j")
            assert selected.get_attribute("data-member") == second
            page.keyboard.press("r")
            page.locator(f'tr[data-member="{second}"]').wait_for(state="detached")  # resolved: out of the queue
            assert rows.count() == 2

            page.keyboard.press("/")
            assert page.evaluate("document.activeElement.id") == "find"
            page.keyboard.type("ar" + third[-6:])  # letters typed into the field are text, not commands
            assert [r for r in rows.all() if r.is_visible()] == []
            page.fill("#find", third[-6:])
            assert [r.get_attribute("data-member") for r in rows.all() if r.is_visible()] == [third]
            assert selected.get_attribute("data-member") == third  # the hidden selection moved to the row shown
            page.keyboard.press("Escape")
            page.keyboard.press("c")  # the call outcome of the selected alert takes focus
            assert page.evaluate("document.activeElement.className") == "outcome"
            assert page.locator(f'tr[data-member="{third}"] .status.open').count() == 1  # 'a', 'r' typed: no action
            browser.close()

        (tmp_path / "selected-row.png").write_bytes(row_shot)  # kept for a human look at a failure
        (tmp_path / "member-panel.png").write_bytes(panel_shot)
        outline = _near(png_pixels(row_shot), SELECTED_OUTLINE_RGB)
        assert outline > 1000, "the selected row has no visible focus outline"
        assert _near(png_pixels(panel_shot), LOGGED_IN_RGB) >= 3 * 100, "the panel's login days are not drawn"
        assert runtime.state.queue.alerts[alerts[0].alert_id].acknowledged_by == "n-a"
        assert runtime.state.queue.alerts[alerts[1].alert_id].status == "resolved"
        assert runtime.state.queue.alerts[alerts[2].alert_id].status == "open"
    finally:
        server.should_exit = True
        thread.join(20)
    steps = [(r.key.decode(), json.loads(r.value)["type"]) for r in read_topic(broker, "alerts", expect_at_least=5)
             if r.key.decode() in (first, second, third)]
    assert (first, "alert.acknowledged") in steps and (second, "alert.resolved") in steps
    assert (third, "alert.acknowledged") not in steps and (third, "alert.resolved") not in steps
