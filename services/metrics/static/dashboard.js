"use strict";
const params = new URLSearchParams(location.search);
const tokenInput = document.getElementById("token"), cohortInput = document.getElementById("cohort");
tokenInput.value = StaffToken.get();
function tokenCohorts(token) {
  try { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))).cohorts || []; }
  catch (e) { return []; }
}
cohortInput.value = params.get("cohort") || tokenCohorts(tokenInput.value)[0] || "";
const MIN_REFRESH_S = 3;  // each refresh is several API calls: never faster than this, whatever the link says
const refreshMs = 1000 * Math.max(MIN_REFRESH_S, Number(params.get("refresh")) || 15);
const fmt = v => (v === null || v === undefined) ? "–" : v.toFixed(1);
const esc = s => String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));

const api = path => get(`/v1/cohorts/${encodeURIComponent(cohortInput.value)}/${path}`);
async function get(url) {
  const r = await fetch(url, {headers: {Authorization: `Bearer ${tokenInput.value}`}});
  if (!r.ok) {
    const body = await r.json().catch(() => ({}));
    throw new Error(`${r.status}: ${typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)}`);
  }
  return r.json();
}

function rateCells(r) {
  return ["login_rate", "participation_rate", "completion_rate"]
    .map(k => `<td class="${k}" data-value="${r[k]}">${fmt(r[k])}</td>`).join("");
}

function renderWeekly(weeks, summary) {
  const rows = [];
  let stage = null;
  for (const w of weeks) {
    rows.push(`<tr data-week="${w.week}"${w.partial ? ' class="partial"' : ""}><td class="stage">${w.stage !== stage ? esc(w.stage) : ""}</td><td>${w.week}${w.partial ? " (so far)" : ""}</td>` +
              `${rateCells(w)}<td class="member_days">${w.member_days}</td></tr>`);
    stage = w.stage;
  }
  // The paper's "4-week average": the mean of the intervention weeks' rates (the cohort's
  // intervention_weeks), computed exactly and rounded half up to 2 decimals by /summary.
  const s = summary.stages.find(x => x.denominator === "followup");
  if (s && s.weeks) {
    const cells = ["login", "participation", "completion"].map(k =>
      `<td class="${k}_rate" data-value="${s[`mean_${k}_rate`]}">${s[`mean_${k}_rate`].toFixed(2)}</td>`).join("");
    rows.push(`<tr class="mean"><td>Weeks 1–${summary.intervention_weeks} mean</td><td></td>${cells}<td></td></tr>`);
  }
  document.querySelector("#weekly tbody").innerHTML = rows.join("");
}

function renderDaily(days) {
  const svg = document.getElementById("daily-chart"), W = 640, H = 260, L = 34, B = 22;
  const n = Math.max(days.length - 1, 1), x = i => L + (W - L - 8) * i / n, y = v => 8 + (H - B - 8) * (1 - v / 100);
  let out = "";
  for (const v of [0, 25, 50, 75, 100]) {
    out += `<line x1="${L}" x2="${W - 8}" y1="${y(v)}" y2="${y(v)}" stroke="#e3e8ee"/>` +
           `<text x="${L - 4}" y="${y(v) + 4}" font-size="10" text-anchor="end" fill="#667">${v}</text>`;
  }
  const series = [["login_rate", "#1f77b4"], ["participation_rate", "#2ca02c"], ["completion_rate", "#d62728"]];
  for (const [k, colour] of series) {
    const pts = days.map((d, i) => `${x(i).toFixed(1)},${y(d[k]).toFixed(1)}`).join(" ");
    out += `<polyline class="series-${k}" points="${pts}" fill="none" stroke="${colour}" stroke-width="1.6"/>`;
  }
  if (days.length) {
    out += `<text x="${L}" y="${H - 6}" font-size="10" fill="#667">${esc(days[0].day)}</text>` +
           `<text x="${W - 8}" y="${H - 6}" font-size="10" text-anchor="end" fill="#667">${esc(days[days.length - 1].day)}</text>`;
  }
  svg.innerHTML = out;
}

// Counts from the cohort's overview (aggregates: researchers may read it; the member list is staff-only).
// Pending / insufficient members are neither (28-day window not complete).
function renderMembers(row) {
  document.getElementById("active-count").textContent = row.active;
  document.getElementById("inactive-count").textContent = row.inactive;
}

const pct = v => (v === null || v === undefined) ? "–" : `${v.toFixed(1)} %`;
const completionCell = q => `<td class="qlq-${q.timepoint}" data-invited="${q.invited}" data-completed="${q.completed}">` +
  `${q.invited ? `${q.completed}/${q.invited}` : "–"}</td>`;

function renderOverview(list) {
  document.querySelector("#cohorts tbody").innerHTML = list.map(c => {
    const m = c.intervention;
    return `<tr data-cohort="${esc(c.cohort)}"${c.cohort === cohortInput.value ? ' class="current"' : ""}>` +
      `<td><button class="open" aria-label="open cohort ${esc(c.cohort)}">${esc(c.cohort)}</button></td>` +
      `<td class="members">${c.members}</td><td class="week">${c.follow_up_week ?? "–"}</td>` +
      `<td class="login">${m.weeks ? m.mean_login_rate.toFixed(2) : "–"}</td>` +
      `<td class="participation">${m.weeks ? m.mean_participation_rate.toFixed(2) : "–"}</td>` +
      `<td class="completion">${m.weeks ? m.mean_completion_rate.toFixed(2) : "–"}</td>` +
      `<td class="active-share">${pct(c.active_share)}</td>` +
      `<td class="open-alerts">${c.workload ? c.workload.open_alerts : "–"}</td>` +
      c.questionnaires.map(completionCell).join("") +
      `<td class="attrition">${pct(c.attrition_rate)}</td></tr>`;
  }).join("");
  for (const button of document.querySelectorAll("#cohorts button.open")) {
    button.addEventListener("click", () => { cohortInput.value = button.closest("tr").dataset.cohort; refresh(); });
  }
}

function renderCompletion(row) {
  document.querySelector("#completion tbody").innerHTML = row.questionnaires.map(q =>
    `<tr data-timepoint="${q.timepoint}"><td>${q.timepoint}</td><td>${q.invited}</td><td>${q.completed}</td>` +
    `<td>${fmt(q.completion_rate)}</td></tr>`).join("");
}

function renderWorkload(row) {
  const w = row.workload, out = document.getElementById("workload-figures");
  if (!w) { out.textContent = "no alerts stored yet"; return; }
  const mins = v => v === null ? "–" : `${v.toFixed(0)} min`;
  out.innerHTML = `<span class="big" id="open-alerts">${w.open_alerts}</span> open alerts ` +
    `(${w.unacknowledged} not acknowledged) &nbsp; time to acknowledge: median <b id="ack-median">${mins(w.ack_median_minutes)}</b>, ` +
    `90th percentile <b id="ack-p90">${mins(w.ack_p90_minutes)}</b> (${w.acknowledged} acknowledged)`;
}

const num = (v, d = 1) => (v === null || v === undefined) ? "–" : v.toFixed(d);
const meanSd = (mean, sd) => mean === null ? "–" : `${num(mean)} (${num(sd)})`;
const pval = p => p === null || p === undefined ? "–" : (p < 0.001 ? "<0.001" : p.toFixed(3));
const pCell = t => `<td class="p${t && t.p < 0.05 ? " significant" : ""}">${pval(t && t.p)}</td>`;

function renderQol(scales) {
  document.querySelector("#qol-table tbody").innerHTML = scales.map(s => {
    const between = s.active_vs_inactive, paired = s.active_t0_vs_t2;
    return `<tr data-scale="${esc(s.scale)}"><td>${esc(s.scale)}</td>` +
      `<td class="active-n">${s.active.n}</td><td class="active-change">${meanSd(s.active.mean, s.active.sd)}</td>` +
      `<td class="inactive-n">${s.inactive.n}</td><td class="inactive-change">${meanSd(s.inactive.mean, s.inactive.sd)}</td>` +
      `<td class="t">${num(between && between.t, 2)}</td>${pCell(between)}` +
      `<td class="t0">${meanSd(paired.t0_mean, paired.t0_sd)}</td><td class="t2">${meanSd(paired.t2_mean, paired.t2_sd)}</td>` +
      `<td class="paired-t">${num(paired.test && paired.test.t, 2)}</td>${pCell(paired.test)}</tr>`;
  }).join("");
}

function renderDaytypes(types) {
  document.querySelector("#daytypes tbody").innerHTML = types.map(t =>
    `<tr data-daytype="${esc(t.day_type)}"><td>${esc(t.day_type)}</td>${rateCells(t)}` +
    `<td class="actions">${t.actions_mean.toFixed(2)} (${t.actions_sd === null ? "–" : t.actions_sd.toFixed(2)})</td>` +
    `<td>${t.member_days}</td></tr>`).join("");
}

const LIST_REFRESH_MS = 60000;
let listShownAt = 0, listFor = null;

async function refresh() {
  const status = document.getElementById("status");
  document.getElementById("cohort-name").textContent = cohortInput.value || "(none)";
  if (!tokenInput.value) {
    status.textContent = StaffToken.refusedFromQuery ? "a token in the URL query is not accepted: paste it"
                                                     : "enter a staff token";
    status.className = "error"; return;
  }
  try {
    // The list computes every visible cohort: refreshed at most once a minute (or when a cohort is opened).
    if (!listShownAt || Date.now() - listShownAt >= LIST_REFRESH_MS || listFor !== cohortInput.value) {
      renderOverview(await get("/v1/cohorts/overview?limit=200"));
      listShownAt = Date.now(); listFor = cohortInput.value;
      document.body.dataset.overview = "true";
    }
    if (!cohortInput.value) {
      status.textContent = "select a cohort"; status.className = ""; return;
    }
    const [weeks, days, row, types, summary, qol] = await Promise.all(
      [api("weekly"), api("daily"), api("overview"), api("daytypes"), api("summary"), api("qol")]);
    renderWeekly(weeks, summary); renderDaily(days); renderMembers(row); renderDaytypes(types);
    renderCompletion(row); renderWorkload(row); renderQol(qol);
    status.textContent = `updated ${new Date().toLocaleTimeString()}`; status.className = "";
    document.body.dataset.loaded = "true"; document.body.dataset.shown = cohortInput.value;
  } catch (e) {
    status.textContent = `error ${e.message}`; status.className = "error";
  }
}
tokenInput.addEventListener("change", () => { StaffToken.set(tokenInput.value); listShownAt = 0; refresh(); });
cohortInput.addEventListener("change", refresh);
refresh();
setInterval(refresh, refreshMs);
