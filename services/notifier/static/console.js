"use strict";
const $ = (id) => document.getElementById(id);
$("token").value = StaffToken.get();
$("token").addEventListener("change", () => { StaffToken.set($("token").value); if ($("token").value) load(); });
if (StaffToken.refusedFromQuery) $("message").textContent = "A token in the URL query is not accepted: paste it.";
const OUTCOMES = ["reached", "no_answer", "voicemail", "declined", "wrong_number"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child instanceof Node ? child : document.createTextNode(child ?? ""));
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, {...options, headers: {
    "Authorization": "Bearer " + $("token").value.trim(), "Content-Type": "application/json"}});
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    throw new Error(response.status + ": " + detail);
  }
  return body;
}

// Times in the nurse's zone: the one typed in (kept in this browser) or the browser's own.
const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
$("zone").value = localStorage.getItem("carecircle.zone") || "";
function zone() {
  const wanted = $("zone").value.trim();
  try { if (wanted) { new Intl.DateTimeFormat("en", {timeZone: wanted}); return wanted; } } catch (e) { /* unknown zone */ }
  return BROWSER_ZONE;
}
function when(iso) {
  if (!iso) return "—";
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-GB", {timeZone: zone(), year: "numeric", month: "2-digit",
    day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23"}).formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${zone()}`;
}

const SCALE_NAMES = {QL2: "global health", PF2: "physical functioning", RF2: "role functioning",
  EF: "emotional functioning", CF: "cognitive functioning", SF: "social functioning", FA: "fatigue",
  NV: "nausea/vomiting", PA: "pain", DY: "dyspnoea", SL: "insomnia", AP: "appetite loss", CO: "constipation",
  DI: "diarrhoea", FI: "financial difficulties"};
const HIGHER_IS_BETTER = new Set(["QL2", "PF2", "RF2", "EF", "CF", "SF"]);

// One line per flagged scale: its value and why (past the threshold, or changed since the previous timepoint).
function symptomWhy(alert) {
  const list = el("ul", {class: "scales"});
  for (const f of alert.scales || []) {
    const value = f.value.toFixed(1);
    const why = f.reason === "threshold"
      ? `${HIGHER_IS_BETTER.has(f.scale) ? "below" : "above"} ${f.limit}`
      : `${HIGHER_IS_BETTER.has(f.scale) ? "down" : "up"} from ${f.previous.toFixed(1)}`;
    list.append(el("li", {"data-scale": f.scale}, `${SCALE_NAMES[f.scale] || f.scale} (${f.scale}) ${value}: ${why}`));
  }
  return el("div", {}, el("span", {class: "kind symptom"}, "symptoms"), ` QLQ-C30 ${alert.timepoint} (${alert.through})`, list);
}

function row(alert) {
  const days = el("div", {class: "days"});
  for (const d of alert.member.recent_days || []) {
    days.append(el("span", {class: "day" + (d.completed ? " done" : d.logged_in ? " in" : ""),
                            title: d.day + (d.logged_in ? " logged in" : " no login") + (d.tasks_done.length ? ": " + d.tasks_done.join(", ") : "")}));
  }
  const actions = el("td");
  actions.append(el("button", {class: "panel", onclick: () => showPanel(alert.member_id)}, "Member"));
  if (alert.status === "open") {
    actions.append(el("button", {class: "ack", onclick: () => act(alert, "ack")}, "Acknowledge"));
  }
  if (alert.status !== "resolved") {
    const outcome = el("select", {class: "outcome", "aria-label": "call outcome"}, ...OUTCOMES.map((o) => el("option", {value: o}, o.replace("_", " "))));
    const note = el("input", {class: "note", placeholder: "note (optional)", maxlength: "1000"});
    actions.append(el("div", {}, outcome, note,
      el("button", {class: "log-call", onclick: () => act(alert, "calls", {outcome: outcome.value, note: note.value || null})}, "Log call")));
    actions.append(el("button", {class: "resolve", onclick: () => act(alert, "resolve")}, "Resolve"));
  }
  const why = alert.kind === "symptom" ? symptomWhy(alert)
    : alert.rule === "intervention_inactive"
    ? `no login ${alert.missed_days} days (${alert.since} – ${alert.through})`
    : `7-day login rate ${alert.window_days - alert.missed_days}/${alert.window_days} (through ${alert.through})`;
  const status = el("td", {}, el("span", {class: "status " + alert.status}, alert.status));
  if (alert.escalated) status.append(el("span", {class: "esc"}, "escalated"));
  const calls = alert.calls.map((c) => `${c.outcome} (${c.by})`).join(", ");
  return el("tr", {"data-alert": alert.alert_id, "data-member": alert.member_id},
    el("td", {}, when(alert.raised_at)),
    el("td", {}, alert.member_id, el("div", {class: "muted"}, alert.cohort)),
    el("td", {}, alert.kind === "symptom" ? "" : el("span", {class: "kind inactivity"}, "inactivity"), " ", why,
      calls ? el("div", {class: "muted"}, "calls: " + calls) : ""),
    el("td", {}, alert.assigned_to || "—"), status,
    el("td", {}, when(alert.member.last_activity)), el("td", {}, days), actions);
}

async function load() {
  $("message").textContent = "";
  try {
    const query = new URLSearchParams({status: $("filter").value});
    for (const name of ["kind", "escalated", "cohort"]) if ($(name).value.trim()) query.set(name, $(name).value.trim());
    const shown = await api("/v1/alerts?" + query);
    $("queue").tBodies[0].replaceChildren(...shown.map(row));
    if (!shown.length) $("message").textContent = "No alerts.";
  } catch (error) { $("message").textContent = error.message; }
}

async function showPanel(memberId) {
  $("message").textContent = "";
  try {
    const panel = await api(`/v1/members/${encodeURIComponent(memberId)}/panel?days=28`);
    $("panel-title").textContent = `${panel.member_id} (${panel.cohort}) — last 28 days`;
    $("panel-days").replaceChildren(...panel.recent_days.map((d) => el("span", {
      class: "day" + (d.completed ? " done" : d.logged_in ? " in" : ""),
      title: d.day + (d.logged_in ? " logged in" : " no login") + (d.tasks_done.length ? ": " + d.tasks_done.join(", ") : "")})));
    const scales = Object.keys(SCALE_NAMES);
    $("panel-scores").tHead.replaceChildren(el("tr", {}, el("th", {}, "QLQ-C30"), ...scales.map((s) => el("th", {title: SCALE_NAMES[s]}, s))));
    $("panel-scores").tBodies[0].replaceChildren(...panel.questionnaires.map((q) => el("tr", {"data-timepoint": q.timepoint},
      el("td", {}, `${q.timepoint} ${when(q.at)}`),
      ...scales.map((s) => el("td", {}, q.scores[s] === null ? "—" : q.scores[s].toFixed(0))))));
    $("panel-alerts").replaceChildren(...panel.alerts.map((a) => el("li", {},
      `${when(a.raised_at)} ${a.kind}: ${a.status}${a.resolved_reason ? " (" + a.resolved_reason.replace("_", " ") + ")" : ""}`
      + (a.calls.length ? "; calls: " + a.calls.map((c) => `${c.outcome.replace("_", " ")} ${when(c.at)}`).join(", ") : ""))));
    $("panel").hidden = false;
  } catch (error) { $("message").textContent = error.message; }
}
$("panel-close").addEventListener("click", () => { $("panel").hidden = true; });

async function act(alert, action, body) {
  $("message").textContent = "";
  try {
    await api(`/v1/alerts/${alert.alert_id}/${action}`, {method: "POST", body: body ? JSON.stringify(body) : undefined});
    await load();
  } catch (error) { $("message").textContent = error.message; }
}

$("load").addEventListener("click", load);
for (const name of ["filter", "kind", "escalated", "cohort"]) $(name).addEventListener("change", load);
$("zone").addEventListener("change", () => { localStorage.setItem("carecircle.zone", $("zone").value.trim()); load(); });
if ($("token").value) load();
