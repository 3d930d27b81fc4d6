// convroute's dashboard: signs in with a token, reads /api/v1/dashboard/{series,totals,verifications}
// and draws them with uPlot, again every 10 s while the page is open.
"use strict";

const PALETTE = ["#2f6fdf", "#e4572e", "#29a35a", "#a05cc9", "#f0a202", "#17a2b8", "#8d6e63", "#d63384"];
const $ = (sel) => document.querySelector(sel);
const QUERY = new URLSearchParams(location.search);  // ?country=GB&hours=6&bucket_minutes=1&poll=5
const POLL_MS = 1000 * Math.max(1, Number(QUERY.get("poll")) || 10);
const state = { token: sessionStorage.getItem("convroute-token"), charts: {}, timer: null, colors: {} };

function colorOf(id) {
  if (!(id in state.colors)) state.colors[id] = PALETTE[Object.keys(state.colors).length % PALETTE.length];
  return state.colors[id];
}

async function get(path, params) {
  const url = path + "?" + new URLSearchParams(params).toString();
  const r = await fetch(url, { headers: { Authorization: "Bearer " + state.token } });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) {
    const e = new Error((body.error && body.error.message) || r.statusText);
    e.status = r.status;
    throw e;
  }
  return body;
}

const pct = (x) => (x == null ? "–" : (100 * x).toFixed(1) + " %");
const money = (x) => (x == null ? "–" : x.toFixed(4));

// the controls start from the page's query, where it names them (a value no option has is added)
for (const name of ["country", "network", "type", "hours", "bucket_minutes"]) {
  const el = $("#" + name), given = QUERY.get(name);
  if (!given) continue;
  if (el.tagName === "SELECT" && ![...el.options].some((o) => o.value === given)) el.add(new Option(given, given));
  el.value = given;
}

function params() {
  const p = { country: $("#country").value.trim().toUpperCase(), type: $("#type").value,
              hours: $("#hours").value, bucket_minutes: $("#bucket_minutes").value };
  if ($("#network").value) p.network = $("#network").value;
  return p;
}

function ratio(a, b) { return a.map((x, i) => (b[i] ? x / b[i] : null)); }

// one line per route, from the counts per bucket
function perRoute(doc, f) {
  const routes = doc.routes.filter((r) => r.series);
  return { routes, lines: routes.map((r) => f(r.series)) };
}

function spans(u, anomalies) {
  u.over.querySelectorAll(".anomaly-span").forEach((el) => el.remove());
  const [lo, hi] = [u.scales.x.min, u.scales.x.max];
  for (const a of anomalies) {
    const start = Date.parse(a.started_at) / 1000;
    const end = a.cleared_at ? Date.parse(a.cleared_at) / 1000 : hi;
    if (end < lo || start > hi) continue;
    const left = u.valToPos(Math.max(start, lo), "x");
    const right = u.valToPos(Math.min(end, hi), "x");
    const el = document.createElement("div");
    el.className = "anomaly-span" + (a.active ? " active" : " cleared");
    el.dataset.kind = a.kind;
    el.dataset.route = a.route || "";
    el.style.left = left + "px";
    el.style.width = Math.max(2, right - left) + "px";
    el.title = `${a.kind}${a.route ? " on " + a.route : ""}: ` + JSON.stringify(a.evidence);
    u.over.appendChild(el);
  }
}

function plot(key, title, xs, names, lines, opts) {
  const el = $("#" + key);
  const width = Math.max(480, el.clientWidth || 520);
  const series = [{}].concat(names.map((n, i) => ({
    label: n.label, stroke: n.color, width: n.dash ? 1.5 : 2, dash: n.dash,
    fill: opts.fill ? n.color + "cc" : undefined, spanGaps: false,
    value: (u, v, si, di) => (opts.raw ? pct(opts.raw[i] && di != null ? opts.raw[i][di] : null) : pct(v)),
  })));
  const data = [xs].concat(lines);
  const old = state.charts[key];
  const same = old && old.series.length === series.length && old.series.every((s, i) => !i || s.label === series[i].label);
  if (same) {
    old.anomalies = opts.anomalies;
    old.setData(data);
    return;
  }
  if (old) old.destroy();
  el.querySelectorAll(".uplot").forEach((n) => n.remove());
  const u = new uPlot({
    width, height: 240, series,
    scales: { y: { range: [0, 1] } },
    axes: [{}, { values: (u, ticks) => ticks.map((t) => Math.round(t * 100) + "%") }],
    hooks: { draw: [(u) => spans(u, u.anomalies || [])] },
  }, data, el);
  u.anomalies = opts.anomalies;
  spans(u, u.anomalies);
  state.charts[key] = u;
}

function draw(doc) {
  const xs = doc.times.map((t) => t / 1000);
  const sent = doc.routes.reduce((n, r) => n + (r.series ? r.series.messages.reduce((a, b) => a + b, 0) : 0), 0);
  $("#empty").hidden = sent > 0;
  $("#empty").textContent = `No messages to ${doc.context.country}${doc.context.network ? " / " + doc.context.network : ""} ` +
    `(${doc.context.traffic}) in this range: widen the range, or pick another destination.`;
  const anomalies = doc.anomalies || [];
  const conv = perRoute(doc, (s) => ratio(s.converted, s.final));
  const names = conv.routes.map((r) => ({ label: r.name, color: colorOf(r.id) }));
  const estimates = conv.routes.filter((r) => r.router && r.router.estimate != null);
  plot("conversion", "conversion", xs,
    names.concat(estimates.map((r) => ({ label: r.name + " (estimate)", color: colorOf(r.id), dash: [6, 4] }))),
    conv.lines.concat(estimates.map((r) => xs.map((_, i) => (i >= xs.length - 12 ? r.router.estimate : null)))),
    { anomalies });
  const rec = perRoute(doc, (s) => ratio(s.delivered, s.messages));
  plot("receipts", "receipts", xs, names, rec.lines, { anomalies });
  // stacked: cumulative shares drawn from the top one down, each filled to zero
  const totals = xs.map((_, i) => conv.routes.reduce((n, r) => n + r.series.messages[i], 0));
  const own = conv.routes.map((r) => r.series.messages.map((m, i) => (totals[i] ? m / totals[i] : null)));
  const cumulative = own.map((_, k) => xs.map((_, i) => (totals[i] ? own.slice(0, k + 1).reduce((a, s) => a + s[i], 0) : null)));
  const order = names.map((_, k) => k).reverse();
  plot("share", "share", xs, order.map((k) => names[k]), order.map((k) => cumulative[k]),
    { anomalies, fill: true, raw: order.map((k) => own[k]) });

  const body = $("#routes tbody");
  body.innerHTML = "";
  for (const r of doc.routes) {
    const q = r.router || {};
    const tr = document.createElement("tr");
    tr.dataset.route = r.name;
    tr.innerHTML = `<td><span class="swatch" style="background:${colorOf(r.id)}"></span>${r.name}</td>` +
      `<td class="share">${pct(q.share)}</td><td>${pct(q.estimate)}</td><td>${pct(q.dlr_rate)}</td>` +
      `<td>${q.connection ? q.connection.state : "–"}${q.at_cap ? " · at cap" : ""}</td><td class="reason"></td>`;
    tr.querySelector(".reason").textContent = q.reason || "";
    body.appendChild(tr);
  }
  const rc = doc.router_context;
  $("#policy").textContent = doc.policy
    ? `policy ${doc.policy}` + (rc && rc.network ? ` · as the router sees network ${rc.network}` : "")
    : "your account's traffic";
  const list = $("#anomalies");
  list.innerHTML = "";
  for (const a of anomalies) {
    const li = document.createElement("li");
    li.className = a.active ? "active" : "";
    li.dataset.kind = a.kind;
    li.textContent = `${a.kind}${a.route ? " on " + a.route : ""} since ${new Date(a.started_at).toLocaleString()}` +
      (a.cleared_at ? ` until ${new Date(a.cleared_at).toLocaleString()}` : " (in progress)") + " · " + JSON.stringify(a.evidence);
    list.appendChild(li);
  }
  if (!anomalies.length) list.innerHTML = "<li>none</li>";
  const nets = $("#network");
  const chosen = nets.value;
  nets.innerHTML = '<option value="">all</option>' + (doc.networks_seen || []).map((n) => `<option>${n}</option>`).join("");
  nets.value = chosen;
}

function table(sel, rows, first) {
  const body = $(sel + " tbody");
  body.innerHTML = "";
  for (const g of rows) {
    const tr = document.createElement("tr");
    tr.innerHTML = `<td></td><td>${g.messages}</td><td>${g.conversions}</td><td>${pct(g.conversion_rate)}</td>` +
      `<td>${money(g.cost)}</td><td>${money(g.cost_per_conversion)}</td>`;
    tr.firstChild.textContent = first(g);
    body.appendChild(tr);
  }
}

function rows(sel, items, cells) {
  const body = $(sel + " tbody");
  body.innerHTML = "";
  for (const g of items) {
    const tr = document.createElement("tr");
    for (const value of cells(g)) {
      const td = document.createElement("td");
      td.textContent = value == null ? "–" : String(value);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

const seconds = (x) => (x == null ? "–" : x.toFixed(0) + " s");
const verifyCells = (first) => (g) => [first(g) ?? "–", g.started, g.approved, pct(g.conversion_rate),
  g.expired, g.max_attempts_reached, seconds(g.seconds_to_approve)];

async function verify(hours) {
  const to = new Date(), from = new Date(to - hours * 3600e3);
  const range = { from: from.toISOString(), to: to.toISOString() };
  const [byCountry, byRoute] = await Promise.all([
    get("/api/v1/dashboard/verifications", { ...range, group_by: "country" }),
    get("/api/v1/dashboard/verifications", { ...range, group_by: "route" }),
  ]);
  rows("#verify-by-country", byCountry.groups, verifyCells((g) => g.country));
  rows("#verify-by-route", byRoute.groups, verifyCells((g) => g.route));
  rows("#verify-guard", byCountry.guard, (g) => [g.decision, g.reason, g.country, g.count]);
}

// an account's own routing (the account view only): read once signed in, saved whole
const names = (text) => text.split(",").map((x) => x.trim()).filter(Boolean);

async function showRouting() {
  const r = await get("/api/v1/account/routing", {});
  $("#goal").value = r.goal || "";
  $("#lambda").value = r.lambda ?? "";
  $("#epsilon").value = r.epsilon ?? "";
  $("#allow").value = r.allow_routes.join(", ");
  $("#forbid").value = r.forbid_routes.join(", ");
  $("#account-routing").hidden = false;
}

async function saveRouting(ev) {
  ev.preventDefault();
  const body = { goal: $("#goal").value || null, allow_routes: names($("#allow").value),
                 forbid_routes: names($("#forbid").value) };
  if (body.goal === "value") body.lambda = Number($("#lambda").value);
  if (body.goal === "cheapest-within" && $("#epsilon").value !== "") body.epsilon = Number($("#epsilon").value);
  const r = await fetch("/api/v1/account/routing", {
    method: "PUT", body: JSON.stringify(body),
    headers: { Authorization: "Bearer " + state.token, "Content-Type": "application/json" } });
  const answer = await r.json().catch(() => ({}));
  // the form shows what is stored before it says so (a refresh landing after "saved" would
  // overwrite what the user typed next)
  if (r.ok) await showRouting();
  $("#routing-saved").textContent = r.ok ? "saved"
    : "not saved: " + ((answer.error && answer.error.message) || r.statusText);
  $("#routing-saved").dataset.ok = String(r.ok);
}

async function refresh() {
  try {
    const p = params();
    const [doc, sums] = await Promise.all([
      get("/api/v1/dashboard/series", p),
      get("/api/v1/dashboard/totals", { hours: p.hours, bucket_minutes: p.bucket_minutes }),
      verify(Number(p.hours)),
    ]);
    draw(doc);
    table("#by-route", sums.by_route, (g) => g.name);
    table("#by-country", sums.by_country, (g) => g.country);
    $("#countries").innerHTML = sums.by_country.map((g) => `<option value="${g.country}">`).join("");
    $("#range").textContent = `${new Date(sums.from).toLocaleString()} – ${new Date(sums.to).toLocaleString()}`;
    $("#who").textContent = doc.scope === "operator" ? "operator" : "account view";
    if (doc.scope !== "operator" && $("#account-routing").hidden) await showRouting();
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
    $("#updated").dataset.at = String(Date.now());
    $("#error").hidden = true;
  } catch (e) {
    $("#error").textContent = e.message;
    $("#error").hidden = false;
    if (e.status === 401 || e.status === 403) signOut();
  }
}

function signedIn() {
  $("#signin").hidden = true;
  $("#app").hidden = false;
  $("#who").hidden = false;
  $("#signout").hidden = false;
  refresh();
  clearInterval(state.timer);
  state.timer = setInterval(refresh, POLL_MS);
}

function signOut() {
  sessionStorage.removeItem("convroute-token");
  state.token = null;
  clearInterval(state.timer);
  $("#signin").hidden = false;
  $("#signout").hidden = true;
  $("#who").hidden = true;
  $("#account-routing").hidden = true;
}

$("#signin").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("#token").value.trim();
  sessionStorage.setItem("convroute-token", state.token);
  signedIn();
});
$("#signout").addEventListener("click", () => { signOut(); $("#app").hidden = true; });
$("#controls").addEventListener("change", refresh);
$("#routing-form").addEventListener("submit", saveRouting);
$("#controls").addEventListener("submit", (ev) => { ev.preventDefault(); refresh(); });
if (state.token) signedIn();
