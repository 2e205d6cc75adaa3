// seaway dashboard. Reads once, then follows the SSE streams; it never polls (the workers
// panel reads the store when the list opens and on Refresh). Every
// value is put in the page as text (never as HTML): job errors may hold anything.
"use strict";

const $ = (id) => document.getElementById(id);
let session = null;
let jobStream = null;
let listStream = null;
let selected = null;      // table whose chunk grid is shown
const samples = [];       // [seconds, rows/s] of the job shown
const ROLES = ["viewer", "operator", "admin"];

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function show(section) {
  for (const id of ["login", "list", "job"]) $(id).hidden = id !== section;
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session && session.csrf_token) headers["X-CSRF-Token"] = session.csrf_token;
  const r = await fetch(path, { method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = { detail: text }; }
  if (!r.ok) {
    const err = new Error((data && data.detail) || r.statusText);
    err.status = r.status;
    throw err;
  }
  return data;
}

function isOperator() {
  return session && ROLES.indexOf(session.role) >= 1;
}

function fmt(n) { return Number(n || 0).toLocaleString("en-US"); }

async function start() {
  try {
    session = await api("GET", "/api/session");
  } catch (e) {
    if (e.status === 401) { show("login"); return; }
    throw e;
  }
  $("who").textContent = session.name + " (" + session.role + ")";
  $("logout").hidden = false;
  for (const e of document.querySelectorAll(".operator")) e.hidden = !isOperator();
  const m = location.pathname.match(/^\/jobs\/(\d+)$/);
  if (m) openJob(Number(m[1])); else openList();
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  try {
    session = await api("POST", "/login", { token: $("token").value });
    $("token").value = "";
    start();
  } catch (e) {
    $("login-error").textContent = e.message;
  }
});

$("logout").addEventListener("click", async () => {
  try { await api("POST", "/logout"); } catch (_) { /* signed out either way */ }
  location.href = "/";
});

// ---- job list -------------------------------------------------------------------

function jobItem(j) {
  const a = el("a", { href: "/jobs/" + j.id },
    el("strong", { text: "#" + j.id }),
    el("span", { class: "pair", text: j.kind + ": " + j.source + " \u2192 " + j.destination + " \u00b7 " + fmt(j.rows_done) + " rows" }),
    el("span", { class: "badge " + j.state, text: j.state }));
  return el("li", { id: "job-" + j.id }, a);
}

function putJob(j) {
  const item = jobItem(j);
  const old = $("job-" + j.id);
  if (old) old.replaceWith(item); else $("jobs").prepend(item);
  $("no-jobs").hidden = true;
}

function fillSelect(select, names, chosen) {
  select.replaceChildren(...names.map((n) => el("option", { value: n, text: n })));
  if (chosen) select.value = chosen;
}

async function openList() {
  show("list");
  fillSelect($("start-source"), session.connections, session.default_source);
  fillSelect($("start-destination"), session.connections, session.default_destination);
  const jobs = await api("GET", "/api/jobs");
  $("jobs").replaceChildren(...jobs.map(jobItem));
  $("no-jobs").hidden = jobs.length > 0;
  listStream = new EventSource("/api/events");
  listStream.addEventListener("job", (ev) => putJob(JSON.parse(ev.data)));
  loadWorkers();
}

// Workers and their queues (`migrator worker`, a PostgreSQL store only). Read when the
// list opens and on Refresh: the store, not the server, knows them.
async function loadWorkers() {
  $("workers-error").textContent = "";
  let w;
  try { w = await api("GET", "/api/workers"); } catch (e) { $("workers-error").textContent = e.message; return; }
  $("workers-box").hidden = !w.shared;
  $("workers").replaceChildren(...w.workers.map((x) => el("li", { id: "worker-" + x.id },
    el("strong", { text: x.id }),
    el("span", { class: "pair", text: x.slots + " slots · " + fmt(x.chunks_done) + " chunks · " + fmt(x.rows) + " rows · heartbeat " + x.silent_seconds.toFixed(0) + " s ago" }))));
  $("queues").replaceChildren(...w.jobs.map((q) => {
    const d = q.depth;
    const li = el("li", { id: "queue-" + q.job },
      el("strong", { text: q.job }),
      el("span", { class: "pair", text: d.pending + " pending · " + d.running + " running · " + d.done + " done · " + d.failed + " failed · " + fmt(d.rows) + " rows" }));
    for (const f of q.failed) {
      const retry = el("button", { type: "button", class: "operator", text: "Retry " + f.table + " #" + f.index });
      retry.hidden = !isOperator();
      retry.addEventListener("click", async () => {
        try {
          await api("POST", "/api/workers/jobs/" + encodeURIComponent(q.job) + "/chunks/" + encodeURIComponent(f.table) + "/" + f.index + "/retry");
          loadWorkers();
        } catch (e) { $("workers-error").textContent = e.message; }
      });
      li.append(el("div", { class: "error", text: f.table + " #" + f.index + ": " + f.error }), retry);
    }
    return li;
  }));
}

$("workers-refresh").addEventListener("click", loadWorkers);

$("start-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("start-error").textContent = "";
  const tables = $("start-tables").value.split(",").map((s) => s.trim()).filter(Boolean);
  const body = { kind: $("start-kind").value, source: $("start-source").value, destination: $("start-destination").value };
  if (tables.length) body.tables = tables;
  if ($("start-batch").value) body.batch_size = Number($("start-batch").value);
  try {
    const job = await api("POST", "/api/jobs", body);
    location.href = "/jobs/" + job.id;
  } catch (e) {
    $("start-error").textContent = e.message;
  }
});

// ---- one job --------------------------------------------------------------------

function tableItem(t) {
  const pct = t.rows_total ? Math.min(100, (100 * t.rows_done) / t.rows_total) : (t.state === "done" ? 100 : 0);
  const fill = el("span");
  fill.style.width = pct.toFixed(1) + "%";
  const counts = fmt(t.rows_done) + (t.rows_total != null ? " / " + fmt(t.rows_total) : "") + " rows" +
    (t.rejected ? " \u00b7 " + fmt(t.rejected) + " rejected" : "");
  const li = el("li", { class: t.state, id: "table-" + t.table, "data-table": t.table, "data-state": t.state },
    el("div", { class: "top" }, el("span", { class: "name", text: t.table }), el("span", { class: "badge " + t.state, text: t.state })),
    el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": pct.toFixed(0) }, fill),
    el("div", { class: "meta", text: counts }));
  if (t.error) li.append(el("div", { class: "error", text: t.error }));
  li.addEventListener("click", () => { selected = t.table; loadChunks(); });
  return li;
}

function drawChart() {
  const c = $("chart");
  const w = c.clientWidth || 600, h = 140;
  c.width = w; c.height = h;
  const g = c.getContext("2d");
  g.clearRect(0, 0, w, h);
  if (samples.length < 2) {
    g.fillStyle = "#5b6776"; g.font = "13px system-ui";
    g.fillText("Rows per second appear here while the job runs.", 8, 20);
    return;
  }
  const t0 = samples[0][0], t1 = samples[samples.length - 1][0];
  const top = Math.max(1, ...samples.map((s) => s[1]));
  g.strokeStyle = "#2563eb"; g.lineWidth = 2; g.beginPath();
  samples.forEach(([t, r], i) => {
    const x = ((t - t0) / Math.max(1, t1 - t0)) * (w - 10) + 5;
    const y = h - 5 - (r / top) * (h - 20);
    if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
  });
  g.stroke();
  g.fillStyle = "#5b6776"; g.font = "12px system-ui"; g.fillText(fmt(Math.round(top)) + " rows/s", 6, 13);
}

let lastStates = {};
function renderJob(j) {
  $("job-title").textContent = "Job #" + j.id + " \u00b7 " + j.kind;
  $("job-meta").textContent = j.source + " \u2192 " + j.destination + " \u00b7 started by " + j.created_by + " at " + j.created_at;
  $("job-state").replaceChildren(el("span", { class: "badge " + j.state, text: j.state }),
    " " + fmt(j.rows_done) + (j.rows_total ? " / " + fmt(j.rows_total) : "") + " rows" + (j.rejected ? ", " + fmt(j.rejected) + " rejected" : ""));
  $("job-error").hidden = !j.error;
  $("job-error").textContent = j.error || "";
  $("retry").disabled = !(j.state === "failed" || j.state === "cancelled");
  $("cancel").disabled = !(j.state === "running" || j.state === "queued");
  $("tables").replaceChildren(...j.tables.map(tableItem));
  samples.push([Date.now() / 1000, j.rows_per_second]);
  if (samples.length > 600) samples.shift();
  $("rate").textContent = fmt(Math.round(j.rows_per_second)) + " rows/s now";
  drawChart();
  // The chunk grid is read again when its table changes state, not on a timer.
  const t = j.tables.find((x) => x.table === selected);
  if (t && lastStates[t.table] !== t.state) loadChunks();
  lastStates = Object.fromEntries(j.tables.map((x) => [x.table, x.state]));
}

async function loadChunks() {
  if (!selected || !currentJob) return;
  const d = await api("GET", "/api/jobs/" + currentJob + "/tables/" + encodeURIComponent(selected));
  $("chunks-box").hidden = false;
  $("chunks-title").textContent = "Chunks of " + selected;
  const failed = d.table.state === "failed";
  $("chunks").replaceChildren(...d.chunks.map((c) => el("span", {
    class: "chunk " + (c.state !== "done" && failed ? "failed" : c.state),
    title: "chunk " + c.index + ": " + c.state + ", " + c.rows + " rows",
  })));
}

let currentJob = null;
async function openJob(id) {
  show("job");
  currentJob = id;
  jobStream = new EventSource("/api/jobs/" + id + "/events");
  jobStream.addEventListener("job", (ev) => renderJob(JSON.parse(ev.data)));
  jobStream.onerror = () => {
    // The stream ends after the job's final state; the browser would reconnect.
    if (jobStream.readyState !== EventSource.OPEN) jobStream.close();
  };
}

async function action(name) {
  $("action-error").textContent = "";
  try {
    await api("POST", "/api/jobs/" + currentJob + "/" + name);
    if (name === "retry") { jobStream.close(); openJob(currentJob); }
  } catch (e) {
    $("action-error").textContent = e.message;
  }
}
$("retry").addEventListener("click", () => action("retry"));
$("cancel").addEventListener("click", () => action("cancel"));
window.addEventListener("resize", drawChart);

start().catch((e) => { document.body.append(el("p", { class: "error", text: String(e.message || e) })); });
