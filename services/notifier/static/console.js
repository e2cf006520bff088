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
  const who = alert.member_id;
  actions.append(el("button", {class: "panel", onclick: () => showPanel(who), "aria-keyshortcuts": "Enter",
                               "aria-label": `member panel of ${who}`}, "Member"));
  if (alert.status === "open") {
    actions.append(el("button", {class: "ack", onclick: () => act(alert, "ack"), "aria-keyshortcuts": "a",
                                 "aria-label": `acknowledge the alert of ${who}`}, "Acknowledge"));
  }
  if (alert.status !== "resolved") {
    const outcome = el("select", {class: "outcome", "aria-label": `call outcome for ${who}`, "aria-keyshortcuts": "c"},
      ...OUTCOMES.map((o) => el("option", {value: o}, o.replace("_", " "))));
    const note = el("input", {class: "note", placeholder: "note (optional)", maxlength: "1000",
                              "aria-label": `call note for ${who} (optional)`});
    actions.append(el("div", {}, outcome, note,
      el("button", {class: "log-call", onclick: () => act(alert, "calls", {outcome: outcome.value, note: note.value || null}),
                    "aria-label": `log the call to ${who}`}, "Log call")));
    actions.append(el("button", {class: "resolve", onclick: () => resolve(alert), "aria-keyshortcuts": "r",
                                 "aria-label": `resolve the alert of ${who}`}, "Resolve"));
  }
  const why = alert.kind === "symptom" ? symptomWhy(alert)
    : alert.rule === "intervention_inactive"
    ? `no login ${alert.missed_days} days (${alert.since} – ${alert.through})`
    : `7-day login rate ${alert.window_days - alert.missed_days}/${alert.window_days} (through ${alert.through})`;
  const status = el("td", {}, el("span", {class: "status " + alert.status}, alert.status));
  if (alert.escalated) status.append(el("span", {class: "esc"}, "escalated"));
  const calls = alert.calls.map((c) => `${c.outcome} (${c.by})`).join(", ");
  return el("tr", {"data-alert": alert.alert_id, "data-member": alert.member_id, tabindex: "-1",
                   "aria-label": `${alert.kind} alert of ${alert.member_id}, ${alert.status}${alert.escalated ? ", escalated" : ""}`},
    el("td", {}, when(alert.raised_at)),
    el("td", {}, alert.member_id, el("div", {class: "muted"}, alert.cohort)),
    el("td", {}, alert.kind === "symptom" ? "" : el("span", {class: "kind inactivity"}, "inactivity"), " ", why,
      calls ? el("div", {class: "muted"}, "calls: " + calls) : ""),
    el("td", {}, alert.assigned_to || "—"), status,
    el("td", {}, when(alert.member.last_activity)), el("td", {}, days), actions);
}

async function load() {
  $("message").textContent = ""; $("message").className = "";
  try {
    const query = new URLSearchParams({status: $("filter").value});
    for (const name of ["kind", "escalated", "cohort"]) if ($(name).value.trim()) query.set(name, $(name).value.trim());
    const shown = await api("/v1/alerts?" + query);
    $("queue").tBodies[0].replaceChildren(...shown.map(row));
    applyFind();
    if (!shown.length) $("message").textContent = "No alerts.";
  } catch (error) { $("message").textContent = error.message; }
}

// --- keyboard: one selected alert (a roving selection over the visible rows) ----------------------
let selectedAlert = null;  // kept across reloads: an acknowledged alert stays selected
const visibleRows = () => [...$("queue").tBodies[0].rows].filter((r) => !r.hidden);

function select(tr, focus = true) {
  for (const r of $("queue").tBodies[0].rows) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); }
  selectedAlert = tr ? tr.dataset.alert : null;
  if (!tr) return;
  tr.classList.add("selected"); tr.setAttribute("aria-selected", "true");
  if (focus) tr.focus();
}
function selectedRow() {
  return visibleRows().find((r) => r.dataset.alert === selectedAlert) || null;
}
function move(step) {
  const rows = visibleRows();
  if (!rows.length) return;
  const at = rows.indexOf(selectedRow());
  select(rows[at < 0 ? (step > 0 ? 0 : rows.length - 1) : Math.min(rows.length - 1, Math.max(0, at + step))]);
}
function applyFind() {
  const wanted = $("find").value.trim().toLowerCase();
  for (const r of $("queue").tBodies[0].rows) r.hidden = Boolean(wanted) && !r.textContent.toLowerCase().includes(wanted);
  // A selection hidden or gone moves to the first row shown (and is remembered while none is shown).
  const kept = selectedRow() || (selectedAlert ? visibleRows()[0] : null);
  if (kept) select(kept, false);
}
function press(selector) {
  const button = selectedRow() && selectedRow().querySelector(selector);
  if (button) button.click();
}

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  const typing = event.target.closest("input, select, textarea");
  if (event.key === "Escape") {
    if (!$("panel").hidden) $("panel").hidden = true;
    if (typing) typing.blur();
    const tr = selectedRow();
    if (tr) tr.focus();
    return;
  }
  if (typing) return;  // letters typed into a field are text, not commands
  const keys = {j: () => move(1), k: () => move(-1), ArrowDown: () => move(1), ArrowUp: () => move(-1),
    a: () => press("button.ack"), r: () => press("button.resolve"), Enter: () => press("button.panel"),
    c: () => { const s = selectedRow() && selectedRow().querySelector("select.outcome"); if (s) s.focus(); },
    "/": () => $("find").focus()};
  // Enter on a focused button is the button's own click, not the member panel.
  if (event.key === "Enter" && event.target.closest("button")) return;
  if (keys[event.key]) { event.preventDefault(); keys[event.key](); }
});
$("queue").tBodies[0].addEventListener("click", (event) => {
  const tr = event.target.closest("tr");
  if (tr) select(tr, !event.target.closest("button, select, input"));
});
$("find").addEventListener("input", applyFind);

async function resolve(alert) {
  // A stray key must not close a patient's alert: resolving asks first, by mouse or keyboard.
  if (window.confirm(`Resolve the ${alert.kind} alert of ${alert.member_id}?`)) await act(alert, "resolve");
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
$("panel-close").addEventListener("click", () => { $("panel").hidden = true; const tr = selectedRow(); if (tr) tr.focus(); });

async function act(alert, action, body) {
  $("message").textContent = ""; $("message").className = "";
  try {
    await api(`/v1/alerts/${alert.alert_id}/${action}`, {method: "POST", body: body ? JSON.stringify(body) : undefined});
    await load();
    const done = {ack: "acknowledged", resolve: "resolved", calls: "call logged"}[action];
    $("message").textContent = `${alert.member_id}: ${done}.`;  // the status region announces it
    $("message").className = "ok";
    const tr = selectedRow();
    if (tr) tr.focus(); else move(1);
  } catch (error) { $("message").textContent = error.message; }
}

$("load").addEventListener("click", load);
for (const name of ["filter", "kind", "escalated", "cohort"]) $(name).addEventListener("change", load);
$("zone").addEventListener("change", () => { localStorage.setItem("carecircle.zone", $("zone").value.trim()); load(); });
if ($("token").value) load();
