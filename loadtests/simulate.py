"""Cohort simulator: `python -m loadtests.simulate [--study | --changes] [--demo] …` against a running stack.

It generates a cohort with known ground truth (`loadtests.scenario`), configures and enrols it
through the ingest admin API, streams its events through `POST /v1/events` (batches of ≤ 500, with
the admin token or each member's own token) in accelerated simulated time, moving the platform's
clock with `POST /v1/admin/clock`, waits until the metrics service has caught up, and compares
`/weekly`, `/members` and `/daytypes` with its own ground truth: a side-by-side table, exit status 1
on any difference. `--study` replays the paper's 30-member, 15-week cohort and also shows the paper's
table beside the platform's. `--changes` replays a cohort whose members and settings change while it
runs (`loadtests.changes`) and compares every answer with an independent count (`loadtests.recount`).
`--demo` (the `make run` Procfile process) waits for the services, replays a demo cohort live so the
dashboards move, then stays idle; `DEMO=0` turns it off.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Callable

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from services.common.auth import mint_token
from services.common.settings import DEV_JWT_SECRET
from testsupport.broker import wait_until_ready
from testsupport.cohort import ZONES, truth_daytypes, truth_members, truth_weekly

from .changes import changes_cohort
from .recount import QUERIES, differences, recount
from .scenario import Simulation, rates_cohort, study_cohort
from .study import nearest_count, reachable, read_rates_csv, rounds_to

console = Console(stderr=False)
MAX_BATCH = 500
RATE_KEYS = ("login_rate", "participation_rate", "completion_rate")


# ---------------------------------------------------------------- comparison (pure)

@dataclass(frozen=True)
class Difference:
    endpoint: str
    row: str
    field: str
    platform: object
    truth: object


def _same(a, b) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return a == b


def _compare_rows(endpoint: str, key: str, platform: list[dict], truth: list[dict]) -> list[Difference]:
    got = {str(r[key]): r for r in platform}
    out = []
    for want in truth:
        row = str(want[key])
        have = got.pop(row, None)
        if have is None:
            out.append(Difference(endpoint, row, "*", "missing", "present"))
            continue
        out += [Difference(endpoint, row, f, have.get(f), v) for f, v in want.items() if not _same(have.get(f), v)]
    out += [Difference(endpoint, row, "*", "present", "missing") for row in got]
    return out


def compare(truth: dict[str, list[dict]], platform: dict[str, list[dict] | None]) -> list[Difference]:
    """Every field of the ground truth that the platform's answer does not equal (rates to 1e-9)."""
    keys = {"weekly": "week", "members": "member_id", "daytypes": "day_type"}
    out = []
    for endpoint, key in keys.items():
        if platform.get(endpoint) is None:
            out.append(Difference(endpoint, "*", "*", "no answer", "rows"))
        else:
            out += _compare_rows(endpoint, key, platform[endpoint], truth[endpoint])
    return out


def ground_truth(sim: Simulation) -> dict[str, list[dict]]:
    g = sim.cohort
    return {"weekly": truth_weekly(g), "members": truth_members(g), "daytypes": truth_daytypes(g)}


def paper_differences(sim: Simulation, weekly: list[dict]) -> list[tuple[int, str, float, str]]:
    """(week, rate, platform %, paper %) wherever the platform breaks the study rule (docs/metrics.md,
    "Reproducing the study"): a cell reachable over the week's member-days must round to the paper's
    value; an unreachable one must be the nearest reachable value. Give it the `enrolled` rows."""
    out = []
    counts = {
        "login_rate": "logged_in_days",
        "participation_rate": "participated_days",
        "completion_rate": "completed_days",
    }
    for row in weekly:
        if row["week"] not in sim.paper:
            continue
        for rate, target in zip(RATE_KEYS, sim.paper[row["week"]]):
            days, count = row["member_days"], row[counts[rate]]
            ok = rounds_to(count, days, target) if reachable(target, days) else count == nearest_count(target, days)
            if not ok:
                out.append((row["week"], rate, row[rate], target))
    return out


def unreachable_cells(sim: Simulation, weekly: list[dict]) -> list[tuple[int, str, float, str]]:
    """(week, rate, platform %, paper %) of the cells no count over the week's member-days reaches."""
    return [(row["week"], rate, row[rate], target) for row in weekly if row["week"] in sim.paper
            for rate, target in zip(RATE_KEYS, sim.paper[row["week"]]) if not reachable(target, row["member_days"])]


# ---------------------------------------------------------------- driving the platform

@dataclass
class Platform:
    ingest_url: str
    metrics_url: str
    secret: str
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        self._admin, self._admin_minted = "", float("-inf")
        self.http = httpx.Client(timeout=self.timeout_s)
        self._member_tokens: dict[str, str] = {}

    @property
    def admin(self) -> str:
        """A staff token lives at most 12 hours (docs/security.md): a fresh one every 11 hours."""
        if time.monotonic() - self._admin_minted > 11 * 3600:
            self._admin, self._admin_minted = mint_token(self.secret, "simulator", "admin"), time.monotonic()
        return self._admin

    def headers(self, member: str | None = None) -> dict[str, str]:
        if member is None:
            return {"Authorization": f"Bearer {self.admin}"}
        if member not in self._member_tokens:
            self._member_tokens[member] = mint_token(self.secret, member, ttl=timedelta(days=2))
        return {"Authorization": f"Bearer {self._member_tokens[member]}"}

    def send(self, method: str, url: str, body, member: str | None = None, attempts: int = 20,
             params: dict | None = None) -> httpx.Response:
        """One request; 429/503 are retried after Retry-After with the same body (same event ids)."""
        for _ in range(attempts):
            response = self.http.request(method, url, json=body, params=params, headers=self.headers(member))
            if response.status_code not in (429, 503):
                if response.status_code >= 400:
                    raise RuntimeError(f"{method} {url} → {response.status_code}: {response.text[:300]}")
                return response
            time.sleep(min(5.0, float(response.headers.get("Retry-After", "1"))))
        raise RuntimeError(f"{method} {url}: still {response.status_code} after {attempts} attempts")

    def ingest(self, path: str) -> str:
        return f"{self.ingest_url.rstrip('/')}{path}"

    def events(self, batch: list[dict], member_tokens: bool) -> None:
        if not member_tokens:
            for i in range(0, len(batch), MAX_BATCH):
                self.send("POST", self.ingest("/v1/events"), batch[i:i + MAX_BATCH])
            return
        per_member: dict[str, list[dict]] = defaultdict(list)
        for event in batch:
            per_member[event["member_id"]].append(event)
        for member, events in per_member.items():
            for i in range(0, len(events), MAX_BATCH):
                self.send("POST", self.ingest("/v1/events"), events[i:i + MAX_BATCH], member=member)

    def tick(self, now: datetime) -> None:
        self.send("POST", self.ingest("/v1/admin/clock"), {"now": now.isoformat()})

    def metrics(self, cohort: str) -> dict[str, list[dict] | None]:
        out: dict[str, list[dict] | None] = {}
        for endpoint in ("weekly", "members", "daytypes", "weekly?denominator=enrolled", "summary"):
            try:
                r = self.http.get(
                    f"{self.metrics_url.rstrip('/')}/v1/cohorts/{cohort}/{endpoint}", headers=self.headers()
                )
                out[endpoint] = r.json() if r.status_code == 200 else None
            except httpx.HTTPError:
                out[endpoint] = None
        return out

    def wait_ready(self, timeout_s: float = 300.0) -> None:
        deadline = time.monotonic() + timeout_s
        for url in (self.ingest_url, self.metrics_url):
            wait_until_ready(url, deadline, url, get=self.http.get, pause_s=0.5)


def replay(sim: Simulation, platform: Platform, tick_hours: float = 24.0, day_seconds: float = 0.0,
           member_tokens: bool = False, on_tick: Callable[[datetime, int], None] | None = None) -> int:
    """Configure, enrol, then stream every delivery at its simulated time with clock ticks every
    `tick_hours` (a simulated day lasts `day_seconds` of real time; 0 = as fast as possible).
    Withdrawals are posted when the clock reaches their day. Returns the number of requests' events sent."""
    g = sim.cohort
    platform.send("PUT", platform.ingest(f"/v1/cohorts/{g.cohort}/settings"), g.settings)
    for body in g.enrolments:
        platform.send("POST", platform.ingest("/v1/enrollments"), body)
    pending_withdrawals = sorted(g.withdrawals, key=lambda w: w["withdrawn_on"])
    step = timedelta(hours=tick_hours)
    last_delivery = sim.schedule[-1][0] if sim.schedule else sim.start
    end = max(sim.end, last_delivery)
    now, i, sent = sim.start, 0, 0
    wall_start = time.monotonic()
    while True:
        while pending_withdrawals and date.fromisoformat(pending_withdrawals[0]["withdrawn_on"]) <= now.date():
            platform.send("POST", platform.ingest("/v1/withdrawals"), pending_withdrawals.pop(0))
        batch = []
        while i < len(sim.schedule) and sim.schedule[i][0] <= now:
            batch.append(sim.schedule[i][1])
            i += 1
        if batch:
            platform.events(batch, member_tokens)
            sent += len(batch)
        platform.tick(now)
        if on_tick:
            on_tick(now, sent)
        if now >= end and i >= len(sim.schedule):
            break
        now = min(now + step, end)
        if day_seconds > 0:  # accelerated real time: one simulated day = day_seconds
            due = wall_start + (now - sim.start).total_seconds() / 86400 * day_seconds
            time.sleep(max(0.0, due - time.monotonic()))
    for body in pending_withdrawals:
        platform.send("POST", platform.ingest("/v1/withdrawals"), body)
    return sent


def wait_for_platform(sim: Simulation, platform: Platform, timeout_s: float) -> tuple[dict, list[Difference]]:
    """Poll the metrics API until it equals the ground truth or the deadline passes (the last answer)."""
    truth = ground_truth(sim)
    deadline = time.monotonic() + timeout_s
    while True:
        answer = platform.metrics(sim.cohort.cohort)
        diffs = compare(truth, answer)
        if not diffs or time.monotonic() > deadline:
            return answer, diffs
        time.sleep(0.5)


# ---------------------------------------------------------------- output

def _pct(x) -> str:
    return "—" if x is None else f"{x:.1f}"


def report(sim: Simulation, answer: dict, diffs: list[Difference]) -> Table:
    truth = ground_truth(sim)
    got = {r["week"]: r for r in answer.get("weekly") or []}
    study = bool(sim.paper)
    table = Table(title=f"cohort {sim.cohort.cohort}: platform vs simulator ground truth"
                  + (" vs paper (Table 3)" if study else ""), show_lines=False)
    table.add_column("week", justify="right")
    table.add_column("member-days\nplat / truth", justify="right")
    for label in ("login %", "particip. %", "compl. %"):
        table.add_column(f"{label}\nplat / truth" + (" / paper" if study else ""), justify="right")
    table.add_column("", justify="center")
    bad_weeks = {d.row for d in diffs if d.endpoint == "weekly"}
    enrolled = answer.get("weekly?denominator=enrolled") or []
    off_paper = {(week, rate) for week, rate, _, _ in unreachable_cells(sim, enrolled)} if study else set()
    for want in truth["weekly"]:
        have = got.get(want["week"], {})
        cells = []
        for i, rate in enumerate(RATE_KEYS):
            cell = f"{_pct(have.get(rate))} / {_pct(want[rate])}"
            if study and want["week"] in sim.paper:
                paper = sim.paper[want["week"]][i]
                mark = "*" if not have or (want["week"], rate) in off_paper else ""
                cell += f" / {paper}{mark}"
            cells.append(cell)
        ok = str(want["week"]) not in bad_weeks
        table.add_row(str(want["week"]), f"{have.get('member_days', '—')} / {want['member_days']}", *cells,
                      "[green]=[/]" if ok else "[red]≠[/]")
    return table


def summary_table(sim: Simulation, answer: dict, diffs: list[Difference]) -> Table:
    truth = ground_truth(sim)
    table = Table(title="members and day types")
    for col in ("what", "platform", "ground truth", ""):
        table.add_column(col)
    members = answer.get("members") or []
    bad = {d.row for d in diffs if d.endpoint == "members"}
    table.add_row(
        "members (rows equal)",
        f"{len(members) - len(bad & {m['member_id'] for m in members})} of {len(members)}",
        str(len(truth["members"])),
        "[green]=[/]" if not bad else "[red]≠[/]",
    )
    table.add_row("active members (login ≥ 70 % in 28 days)", str(sum(bool(m["active"]) for m in members)),
                  str(sum(bool(m["active"]) for m in truth["members"])), "")
    by_type = {r["day_type"]: r for r in answer.get("daytypes") or []}
    for want in truth["daytypes"]:
        have = by_type.get(want["day_type"], {})
        bad_type = any(d.endpoint == "daytypes" and d.row == want["day_type"] for d in diffs)
        table.add_row(f"{want['day_type']} days", _daytype_rates(have), _daytype_rates(want),
                      "[green]=[/]" if not bad_type else "[red]≠[/]")
    return table


def _daytype_rates(r: dict) -> str:
    """One day type's rates as a table cell; "—" when the answer has no row for it."""
    if not r:
        return "—"
    return (f"login {_pct(r.get('login_rate'))} % · particip. {_pct(r.get('participation_rate'))} % · "
            f"actions {r.get('actions_mean', 0):.2f} (SD {r.get('actions_sd') or 0:.2f})")


# ---------------------------------------------------------------- the changing cohort (--changes)

def run_changes(platform: Platform, seed: int, members: int, start: date, cohort: str, prefix: str,
                timeout_s: float) -> int:
    """Send the changing cohort's requests in order, then poll every answer of `recount.QUERIES` until it
    equals the independent count (or the deadline passes); print the comparison; the exit status."""
    g = changes_cohort(seed=seed, members=members, start=start, cohort=cohort, prefix=prefix)
    console.print(f"cohort [bold]{cohort}[/]: {members} members, {len(g.steps)} requests, "
                  f"{len(g.deliveries)} event deliveries, simulated {start} → {start + timedelta(days=35)}")
    for method, path, body, params in g.steps:
        platform.send(method, platform.ingest(path), body, params=params)
    truth = recount(g.steps)
    deadline = time.monotonic() + timeout_s
    while True:
        answers = {}
        for query in QUERIES:
            try:
                r = platform.http.get(f"{platform.metrics_url.rstrip('/')}/v1/cohorts/{cohort}/{query}",
                                      headers=platform.headers())
                answers[query] = r.json() if r.status_code == 200 else None
            except httpx.HTTPError:
                answers[query] = None
        diffs = differences(truth, answers)
        if not diffs or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    table = Table(title=f"cohort {cohort}: platform vs independent count (loadtests/recount.py)")
    for col in ("answer", "rows", "fields compared", "differences"):
        table.add_column(col)
    for query in QUERIES:
        bad = sum(d.startswith(f"{query} ") or d.startswith(f"{query}:") for d in diffs)
        fields = sum(len(row) for row in truth[query])
        table.add_row(query, str(len(truth[query])), str(fields), "[green]0[/]" if not bad else f"[red]{bad}[/]")
    console.print(table)
    for d in diffs[:50]:
        console.print(f"[red]DIFF[/] {d}")
    console.print("[green]platform equals the independent count: 0 differences[/]" if not diffs
                  else f"[red]{len(diffs)} differences[/]")
    return 1 if diffs else 0


# ---------------------------------------------------------------- CLI

app = typer.Typer(add_completion=False, help=__doc__)


def _floats(text: str | None) -> list[float] | None:
    return [float(x) for x in text.split(",")] if text else None


def _idle() -> None:
    """Stay alive (honcho stops every process when one exits) until SIGTERM/SIGINT."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    while True:
        time.sleep(3600)


@app.command()
def main(
    ctx: typer.Context,
    study: Annotated[bool, typer.Option("--study", help="Replay the paper's 30-member, 15-week cohort")] = False,
    changes: Annotated[bool, typer.Option(
        "--changes", help="Replay the changing acceptance cohort (zone changes, re-enrolments, dated settings, "
                          "future withdrawals, conflicting ids) and compare every answer with an independent count")
    ] = False,
    demo: Annotated[
        bool, typer.Option("--demo", help="make run: wait for the services, replay live, stay idle")
    ] = False,
    members: Annotated[int, typer.Option(min=1, max=100_000)] = 60,
    weeks: Annotated[int, typer.Option(min=1, max=52)] = 15,
    login: Annotated[
        str | None, typer.Option(help="Weekly login probabilities, comma separated (one per week)")
    ] = None,
    participation: Annotated[str | None, typer.Option(help="Weekly participation probabilities")] = None,
    completion: Annotated[str | None, typer.Option(help="Weekly completion probabilities")] = None,
    rates_csv: Annotated[Path | None, typer.Option(help="Weekly rates % as in study-weekly-rates.csv")] = None,
    nonworking_factor: Annotated[float, typer.Option(help="Login probability factor on weekends/holidays")] = 0.9,
    zones: Annotated[str, typer.Option(help="Member time zones, comma separated")] = ",".join(ZONES),
    withdrawal_share: Annotated[float, typer.Option(min=0, max=1)] = 0.2,
    duplicate_share: Annotated[float, typer.Option(min=0, max=1)] = 0.05,
    late_share: Annotated[float, typer.Option(min=0, max=1)] = 0.1,
    start: Annotated[
        str | None,
        typer.Option(help="First enrolment day (YYYY-MM-DD); default 2026-03-02, demo: so that it ends today"),
    ] = None,
    cohort: Annotated[str | None, typer.Option(help="Cohort id (default: study / sim / demo-<time>)")] = None,
    seed: Annotated[int, typer.Option()] = 1,
    ingest_url: Annotated[str, typer.Option(envvar="INGEST_URL")] = "http://127.0.0.1:8001",
    metrics_url: Annotated[str, typer.Option(envvar="METRICS_URL")] = "http://127.0.0.1:8002",
    jwt_secret: Annotated[str, typer.Option(envvar="JWT_SECRET", show_default=False)] = DEV_JWT_SECRET,
    tick_hours: Annotated[float, typer.Option(min=0.25, help="Simulated hours between clock ticks")] = 24.0,
    day_seconds: Annotated[
        float, typer.Option(min=0, help="Real seconds per simulated day (0: as fast as possible)")
    ] = 0.0,
    member_tokens: Annotated[bool, typer.Option(help="Send each member's events with their own token")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the platform to catch up")] = 120.0,
) -> None:
    if demo and os.environ.get("DEMO", "1").strip().lower() in ("0", "false", "no", "off"):
        console.print("demo cohort off (DEMO=0)")
        _idle()
    if demo:  # the Procfile process must never exit: honcho would stop every service with it
        try:
            run(**ctx.params)
        except (Exception, typer.Exit) as exc:  # noqa: BLE001 - report and stay alive
            if not isinstance(exc, typer.Exit):
                console.print(f"[red]demo stopped: {exc}[/]")
        _idle()
    run(**ctx.params)


def run(study: bool, changes: bool, demo: bool, members: int, weeks: int, login: str | None, participation: str | None,
        completion: str | None, rates_csv: Path | None, nonworking_factor: float, zones: str, withdrawal_share: float,
        duplicate_share: float, late_share: float, start: str | None, cohort: str | None, seed: int, ingest_url: str,
        metrics_url: str, jwt_secret: str, tick_hours: float, day_seconds: float, member_tokens: bool,
        timeout: float) -> None:
    tag = datetime.now().strftime("%Y%m%d-%H%M%S")
    # ingest refuses events from the future (> 10 min): a demo replays the weeks that just ended
    first_day = date.fromisoformat(start) if start else (
        date.today() - timedelta(days=7 * weeks + 8) if demo else date(2026, 3, 2))
    if changes:
        raise typer.Exit(run_changes(Platform(ingest_url, metrics_url, jwt_secret), seed=seed, members=members,
                                     start=date.fromisoformat(start) if start else date(2026, 10, 12),
                                     cohort=cohort or f"changes-{tag}", prefix=f"c{tag[-6:]}", timeout_s=timeout))
    if study:
        sim = study_cohort(start=first_day, cohort=cohort or (f"study-{tag}" if demo else "study"),
                           prefix=f"st{tag[-6:]}" if demo else "st", seed=seed,
                           zones=tuple(zones.split(",")) if zones != ",".join(ZONES) else ("Asia/Shanghai",),
                           duplicate_share=duplicate_share, late_share=late_share)
    else:
        profiles = {"login": _floats(login), "participation": _floats(participation), "completion": _floats(completion)}
        if rates_csv:
            table = read_rates_csv(rates_csv)
            weeks = len(table)
            profiles = {k: [float(table[w][i]) / 100 for w in sorted(table)] for i, k in enumerate(profiles)}
        name = cohort or (f"demo-{tag}" if demo else "sim")
        sim = rates_cohort(members=members, weeks=weeks, start=first_day, cohort=name,
                           prefix=f"d{tag[-6:]}" if demo else name, seed=seed, zones=tuple(zones.split(",")),
                           nonworking_factor=nonworking_factor, withdrawal_share=withdrawal_share,
                           duplicate_share=duplicate_share, late_share=late_share, **profiles)
    platform = Platform(ingest_url, metrics_url, jwt_secret)
    if demo:
        with console.status("demo: waiting for ingest and metrics to be ready …"):
            platform.wait_ready()
        nurse = mint_token(jwt_secret, "demo-nurse", "nurse", (sim.cohort.cohort,), ttl=timedelta(hours=12))
        # the demo nurse is the cohort's nurse, so the queue shows alerts assigned to the person looking at it
        sim.cohort.settings = {**sim.cohort.settings, "nurses": ["demo-nurse"], "lead_nurse": "demo-nurse"}
        console.print(f"demo cohort [bold]{sim.cohort.cohort}[/]: {len(sim.cohort.enrolments)} members, "
                      f"{len(sim.schedule)} deliveries, one simulated day every {day_seconds or 3:g} s")
        notifier_url = os.environ.get("NOTIFIER_URL", "http://127.0.0.1:8003")
        console.print(
            f"  dashboard     {metrics_url}/?cohort={sim.cohort.cohort}&refresh=3#token={nurse}", soft_wrap=True
        )
        console.print(f"  nurse console {notifier_url}/#token={nurse}", soft_wrap=True)
        day_seconds = day_seconds or 3.0
        tick_hours = min(tick_hours, 6.0)
    g = sim.cohort
    console.print(f"cohort [bold]{g.cohort}[/]: {len(g.enrolments)} members, {len(g.withdrawals)} withdrawals, "
                  f"{g.unique_events} events ({len(g.deliveries) - g.unique_events} duplicate deliveries), "
                  f"simulated {sim.start:%Y-%m-%d} → {sim.end:%Y-%m-%d}")
    total_days = max(1, math.ceil((sim.end - sim.start).total_seconds() / 86400))
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
                  TextColumn("{task.fields[sent]} events"), TimeElapsedColumn(), console=console,
                  disable=not console.is_terminal and not demo) as progress:
        task = progress.add_task("replaying", total=total_days, sent=0)

        reported = [-1]

        def on_tick(now: datetime, sent: int) -> None:
            day = (now - sim.start).total_seconds() / 86400
            progress.update(task, completed=min(total_days, day), sent=sent)
            if not console.is_terminal and int(day // 7) > reported[0]:  # under honcho: a line a simulated week
                reported[0] = int(day // 7)
                console.print(f"simulated {now:%Y-%m-%d %H:%M} UTC (week {reported[0] + 1}): {sent} events sent")

        started = time.monotonic()
        sent = replay(sim, platform, tick_hours=tick_hours, day_seconds=day_seconds, member_tokens=member_tokens,
                      on_tick=on_tick)
    console.print(f"sent {sent} deliveries in {time.monotonic() - started:.1f} s; waiting for the platform …")
    answer, diffs = wait_for_platform(sim, platform, timeout)
    console.print(report(sim, answer, diffs))
    console.print(summary_table(sim, answer, diffs))
    broken = []
    if study:
        enrolled = answer.get("weekly?denominator=enrolled") or []
        broken = paper_differences(sim, enrolled) if enrolled else [(0, "*", 0.0, "no enrolled answer")]
        unreachable = unreachable_cells(sim, enrolled)
        console.print(f"paper's Table 3 under denominator=enrolled: {45 - len(unreachable)} of 45 cells reachable as "
                      f"k/210, each reproduced: {'yes' if not broken else 'NO'}; unreachable (marked *, nearest "
                      "reachable value): " + ", ".join(f"W{w} {r.split('_')[0]} {t}" for w, r, _, t in unreachable))
        for s in (answer.get("summary") or {}).get("stages", []):
            console.print(
                f"intervention summary ({s['denominator']}): mean of weekly rates {s['mean_login_rate']:.2f} / "
                f"{s['mean_participation_rate']:.2f} / {s['mean_completion_rate']:.2f} %, pooled "
                f"{s['pooled_login_rate']:.2f} / {s['pooled_participation_rate']:.2f} / "
                f"{s['pooled_completion_rate']:.2f} % (paper: 60.37 / 42.25 / 22.38, means of rounded rates)"
            )
        for week, rate, got, target in broken:
            console.print(f"[red]STUDY RULE[/] week {week} {rate}: platform {got!r}, paper {target}")
    for d in diffs[:50]:
        console.print(f"[red]DIFF[/] {d.endpoint} {d.row} {d.field}: platform {d.platform!r} ≠ truth {d.truth!r}")
    console.print("[green]platform equals ground truth: 0 differences[/]" if not diffs
                  else f"[red]{len(diffs)} differences[/]")
    raise typer.Exit(1 if diffs or broken else 0)


if __name__ == "__main__":
    app()
