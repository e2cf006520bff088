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

async function api(path) {
  const r = await fetch(`/v1/cohorts/${encodeURIComponent(cohortInput.value)}/${path}`,
                        {headers: {Authorization: `Bearer ${tokenInput.value}`}});
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

function renderMembers(members) {  // pending / insufficient members are neither (28-day window not complete)
  document.getElementById("active-count").textContent = members.filter(m => m.activity === "active").length;
  document.getElementById("inactive-count").textContent = members.filter(m => m.activity === "inactive").length;
}

function renderDaytypes(types) {
  document.querySelector("#daytypes tbody").innerHTML = types.map(t =>
    `<tr data-daytype="${esc(t.day_type)}"><td>${esc(t.day_type)}</td>${rateCells(t)}` +
    `<td class="actions">${t.actions_mean.toFixed(2)} (${t.actions_sd === null ? "–" : t.actions_sd.toFixed(2)})</td>` +
    `<td>${t.member_days}</td></tr>`).join("");
}

async function refresh() {
  const status = document.getElementById("status");
  document.getElementById("cohort-name").textContent = cohortInput.value || "(none)";
  if (!tokenInput.value || !cohortInput.value) {
    status.textContent = StaffToken.refusedFromQuery ? "a token in the URL query is not accepted: paste it"
                                                     : "enter a staff token and a cohort";
    status.className = "error"; return;
  }
  try {
    const [weeks, days, members, types, summary] = await Promise.all(
      [api("weekly"), api("daily"), api("members"), api("daytypes"), api("summary")]);
    renderWeekly(weeks, summary); renderDaily(days); renderMembers(members); renderDaytypes(types);
    status.textContent = `updated ${new Date().toLocaleTimeString()}`; status.className = "";
    document.body.dataset.loaded = "true";
  } catch (e) {
    status.textContent = `error ${e.message}`; status.className = "error";
  }
}
tokenInput.addEventListener("change", () => { StaffToken.set(tokenInput.value); refresh(); });
cohortInput.addEventListener("change", refresh);
refresh();
setInterval(refresh, refreshMs);
