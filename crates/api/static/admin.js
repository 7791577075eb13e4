// The admin console: calls the JSON API with the session cookie (sent by the browser, never
// read by this script) and the CSRF token in X-CSRF-Token; everything from guests, models and
// the database is put in the page with textContent. Lists page with the API's cursors.
"use strict";

const $ = (id) => document.getElementById(id);
let csrf = "";

function problem(message) {
  $("problem").textContent = message || "";
  $("problem").hidden = !message;
}

async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") {
    headers["X-CSRF-Token"] = csrf;
    headers["Content-Type"] = "application/json";
  }
  const res = await fetch(path, { method, headers, credentials: "same-origin", body: body ? JSON.stringify(body) : method === "GET" ? undefined : "{}" });
  if (res.status === 401) {
    window.location.assign("/admin/sign-in");
    throw new Error("signed out");
  }
  const text = await res.text();
  const data = text ? JSON.parse(text) : {};
  if (!res.ok) throw new Error(data.detail || data.title || "request failed");
  return data;
}

// Runs `work`, showing its failure (if any) above the sections.
async function attempt(work) {
  problem("");
  try {
    await work();
  } catch (e) {
    problem(e.message);
  }
}

// A list filled page by page from `path()` with the API's cursors: `row(item)` makes a node for
// `target`; a "Load more" button follows while there is a next page.
function pager(target, path, row, emptyText) {
  const more = el("button", { type: "button", class: "secondary more" }, "Load more");
  more.hidden = true;
  (target.closest(".scroll") || target).after(more);
  let next = null;
  async function fetchPage() {
    const base = path();
    const url = next ? base + (base.includes("?") ? "&" : "?") + "cursor=" + encodeURIComponent(next) : base;
    const page = await api("GET", url);
    const items = page.items || [];
    for (const item of items) target.append(row(item));
    next = page.next_cursor || null;
    more.hidden = !next;
    return items.length;
  }
  more.addEventListener("click", () => attempt(fetchPage));
  return {
    async reload() {
      next = null;
      const count = await fetchPage();
      if (!count && emptyText) {
        target.append(target.tagName === "TBODY" ? el("tr", {}, el("td", { colspan: "9" }, emptyText)) : el("p", {}, emptyText));
      }
    },
    clear() {
      target.replaceChildren();
    },
  };
}

// Replaces a pager's rows with its first page.
async function refresh(p) {
  p.clear();
  await p.reload();
}

function rupees(amount) {
  return typeof amount === "number" ? "Rs " + (amount / 100).toLocaleString("en-PK", { maximumFractionDigits: 0 }) : "—";
}

function usdc(micro) {
  return typeof micro === "number" ? (micro / 1e6).toFixed(6).replace(/0+$/, "").replace(/\.$/, "") + " USDC" : "—";
}

function when(iso) {
  return iso ? new Date(iso).toISOString().replace("T", " ").slice(0, 16) + " UTC" : "";
}

function query(form, extra) {
  const q = new URLSearchParams(extra);
  for (const [k, v] of new FormData(form)) if (String(v).trim()) q.set(k, String(v).trim());
  return q;
}

// ── Verifications ───────────────────────────────────────────────────────────

function check(label, value) {
  const [mark, cls] = value === true ? ["✔ passed", "ok"] : value === false ? ["✘ failed", "bad"] : ["? unknown", "unknown"];
  return el("li", { class: cls }, `${label}: ${mark}`);
}

function proofCard(v) {
  const p = v.payment || {};
  const c = p.checks || {};
  const picture = p.image_url
    ? el("img", { src: p.image_url, alt: `Payment screenshot for ${v.booking}` })
    : el("p", {}, "Typed details, no screenshot");
  const dl = el("dl");
  for (const [k, val] of [["Booking", v.booking], ["Place", v.property], ["Date", `${v.date} ${String(v.shift).replace("_", " ")}`],
    ["Guest", v.guest_name], ["CNIC", v.cnic], ["Amount", rupees(p.amount)], ["Advance due", rupees(v.advance_due?.amount)],
    ["Transaction id", p.transaction_id || "—"], ["Read by", p.machine_checked ? "the vision model" : "nobody (manual review)"]]) {
    dl.append(el("dt", {}, k), el("dd", {}, String(val ?? "")));
  }
  const checks = el("ul", { class: "checks", "aria-label": "Checks" },
    check("Amount ≥ advance due", c.amount_ok), check("Paid to our account", c.receiver_ok),
    check("Transaction id unused", c.transaction_id_unused), check("Screenshot unused", c.image_unused));
  for (const n of c.notes || []) checks.append(el("li", { class: "unknown" }, n));
  const reasonId = "reason-" + p.id;
  const reason = el("input", { id: reasonId, name: "reason", placeholder: "Reason, for a rejection" });
  const approve = el("button", { type: "button" }, "Approve");
  const reject = el("button", { type: "button", class: "secondary" }, "Reject");
  approve.addEventListener("click", () => decide(`/api/v1/admin/verifications/${p.id}/approve`, {}));
  reject.addEventListener("click", () => {
    if (!reason.value.trim()) {
      problem("Give a reason to reject.");
      reason.focus();
      return;
    }
    decide(`/api/v1/admin/verifications/${p.id}/reject`, { reason: reason.value.trim() });
  });
  const actions = el("div", { class: "actions" }, approve, el("label", { for: reasonId, class: "sr-only" }, "Reason"), reason, reject);
  return el("article", { class: "proof", "aria-label": `Proof for ${v.booking}` }, picture, el("div", {}, dl, checks, actions));
}

const proofs = pager($("verification-list"), () => "/api/v1/admin/verifications?limit=10", proofCard, "No payment proofs are waiting.");

function decide(path, body) {
  return attempt(async () => {
    await api("POST", path, body);
    await Promise.all([refresh(proofs), refresh(bookings)]);
  });
}

// ── Bookings ────────────────────────────────────────────────────────────────

function bookingRow(b) {
  const history = el("button", { type: "button", class: "secondary" }, "History");
  history.setAttribute("aria-label", "History of " + b.reference);
  history.addEventListener("click", () => attempt(() => showHistory(b.reference)));
  return el("tr", {}, el("td", {}, b.reference), el("td", {}, b.property?.name || ""),
    el("td", {}, `${b.date} ${String(b.shift).replace("_", " ")}`), el("td", {}, b.guest?.name || ""),
    el("td", {}, b.status), el("td", {}, rupees(b.total?.amount)), el("td", {}, history));
}

const bookings = pager($("booking-table").querySelector("tbody"),
  () => "/api/v1/bookings?" + query($("booking-filter"), { limit: "20" }), bookingRow, "No bookings match.");

async function showHistory(reference) {
  const events = await api("GET", `/api/v1/bookings/${encodeURIComponent(reference)}/history`);
  const list = el("ol", { class: "events" });
  for (const e of events) {
    const details = Object.entries(e.details || {}).filter(([, v]) => v !== null && typeof v !== "object")
      .map(([k, v]) => `${k}: ${v}`).join(" · ");
    list.append(el("li", {}, el("strong", {}, e.action), ` — ${when(e.occurred_at)} by ${e.actor_type}${e.actor_id ? " " + e.actor_id : ""}`,
      details ? el("span", { class: "details" }, details) : ""));
  }
  if (!events.length) list.append(el("li", {}, "No events."));
  $("booking-history").replaceChildren(el("h3", {}, "History of " + reference), list);
}

// ── Conversations ───────────────────────────────────────────────────────────

let current = null;

function conversationItem(c) {
  const label = `${c.guest_name || c.guest_id} · ${c.channel} · ${c.mode}`;
  const b = el("button", { type: "button" }, label);
  if (c.needs_human) b.append(el("span", { class: "flag" }, " · needs a human"));
  b.addEventListener("click", () => attempt(() => openConversation(c.id)));
  return el("li", { class: "conv" }, b);
}

const conversations = pager($("conversation-list"), () => "/api/v1/admin/conversations?limit=20", conversationItem, "No conversations yet.");

async function openConversation(id) {
  current = id;
  const c = await api("GET", `/api/v1/admin/conversations/${id}`);
  const box = $("conversation");
  box.replaceChildren(el("h3", {}, `${c.guest_name || "Guest"} (${c.mode})`));
  // The transcript as the guest saw it: structured replies rendered by the chat's own renderer.
  for (const m of c.messages || []) {
    const who = m.sender === "guest" ? "Guest" : m.sender === "admin" ? "Admin" : "Bot";
    const msg = el("div", { class: "msg " + m.sender }, el("span", { class: "who" }, `${who} · ${m.channel} · ${m.delivery_status}`));
    if (Array.isArray(m.responses) && m.responses.length) m.responses.forEach((item) => renderItem(msg, item, null));
    else msg.append(el("p", {}, formatted(m.text || "")));
    box.append(msg);
  }
  const take = el("button", { type: "button" }, c.mode === "human" ? "Release to the bot" : "Take over");
  take.addEventListener("click", () => act(`/api/v1/admin/conversations/${id}/${c.mode === "human" ? "release" : "takeover"}`, {}));
  const replyId = "reply-" + id;
  const reply = el("textarea", { id: replyId, rows: "2", maxlength: "4000" });
  const send = el("button", { type: "button" }, "Reply");
  send.addEventListener("click", () => {
    if (reply.value.trim()) act(`/api/v1/admin/conversations/${id}/messages`, { text: reply.value.trim() });
  });
  box.append(el("div", { class: "actions" }, take), el("label", { for: replyId }, "Reply as a human"), reply, el("div", { class: "actions" }, send));
}

function act(path, body) {
  return attempt(async () => {
    await api("POST", path, body);
    await refresh(conversations);
    if (current) await openConversation(current);
  });
}

// ── AI requests ─────────────────────────────────────────────────────────────

function reviewItem(r) {
  const why = r.decision?.reason_text || r.decision?.text || r.decision?.outcome || "review";
  const approve = el("button", { type: "button" }, "Approve");
  const reject = el("button", { type: "button", class: "secondary" }, "Reject");
  approve.addEventListener("click", () => review(`/api/v1/reviews/${r.id}/approve`, {}));
  reject.addEventListener("click", () => review(`/api/v1/reviews/${r.id}/reject`, { reason: "rejected in the console" }));
  return el("article", { class: "review", "aria-label": `Request ${r.id} waiting for review` },
    el("span", {}, `${r.id} · ${r.provider}/${r.model} · estimated ${usdc(r.estimated)} · ${why}`), approve, reject);
}

function requestRow(r) {
  return el("tr", {}, el("td", {}, r.id), el("td", {}, `${r.provider}/${r.model}`), el("td", {}, r.status),
    el("td", {}, r.decision?.outcome || ""), el("td", {}, usdc(r.charged)));
}

const reviews = pager($("review-list"), () => "/api/v1/reviews?limit=10", reviewItem, "No requests are waiting for review.");
const requests = pager($("request-table").querySelector("tbody"), () => "/api/v1/requests?limit=20", requestRow, "No requests yet.");

function review(path, body) {
  return attempt(async () => {
    await api("POST", path, body);
    await Promise.all([refresh(reviews), refresh(requests)]);
  });
}

// ── Budgets and alerts ──────────────────────────────────────────────────────

let alertScope = "";

function projectRow(p) {
  const today = el("td", {}, "…");
  const month = el("td", {}, "…");
  const reserved = el("td", {}, "…");
  const status = el("td", {}, "…");
  api("GET", `/api/v1/projects/${p.id}/budget/status`).then((s) => {
    today.textContent = `${usdc(s.spent_today)} of ${usdc(s.daily)}`;
    month.textContent = `${usdc(s.spent_month)} of ${usdc(s.monthly)}`;
    reserved.textContent = usdc(s.reserved);
    status.textContent = s.status;
    status.className = s.status === "available" ? "ok" : "bad";
  }, (e) => { status.textContent = e.message; });
  const show = el("button", { type: "button", class: "secondary" }, "Alerts");
  show.setAttribute("aria-label", "Alerts of " + p.name);
  show.addEventListener("click", () => attempt(async () => {
    alertScope = p.id;
    $("alerts-title").textContent = `Alerts of ${p.name} (${p.id})`;
    $("all-alerts").hidden = false;
    await refresh(alerts);
  }));
  return el("tr", {}, el("td", {}, `${p.name} (${p.id})`), today, month, reserved, status, el("td", {}, show));
}

function alertRow(a) {
  return el("tr", {}, el("td", {}, when(a.created_at)), el("td", {}, a.scope), el("td", {}, a.kind), el("td", {}, a.message));
}

const projects = pager($("project-table").querySelector("tbody"), () => "/api/v1/projects?limit=20", projectRow, "No projects.");
const alerts = pager($("alert-table").querySelector("tbody"),
  () => "/api/v1/alerts?" + new URLSearchParams(alertScope ? { limit: "20", scope: alertScope } : { limit: "20" }), alertRow, "No alerts.");

// ── Audit ───────────────────────────────────────────────────────────────────

function auditQuery() {
  const q = query($("audit-filter"), { limit: "25" });
  // The form's "To" day is included: the API's `to` is exclusive.
  if (q.get("to")) {
    const d = new Date(q.get("to") + "T00:00:00Z");
    d.setUTCDate(d.getUTCDate() + 1);
    q.set("to", d.toISOString().slice(0, 10));
  }
  return "/api/v1/audit?" + q;
}

function auditRow(e) {
  return el("tr", {}, el("td", {}, e.seq == null ? "—" : String(e.seq)), el("td", {}, when(e.occurred_at)),
    el("td", {}, `${e.actor_type}${e.actor_id ? " " + e.actor_id : ""}`), el("td", {}, e.action),
    el("td", {}, `${e.subject_type}${e.subject_id ? " " + e.subject_id : ""}`), el("td", {}, e.result));
}

const audit = pager($("audit-table").querySelector("tbody"), auditQuery, auditRow, "No events match.");

async function verifyChain() {
  const r = await api("GET", "/api/v1/audit/verify");
  $("chain").textContent = r.ok
    ? `The chain verifies: ${r.checked} events checked (${r.unchained} not linked yet).`
    : `Broken at #${r.first_broken?.seq} (${r.first_broken?.event_id}): ${r.first_broken?.reason}`;
}

// ── Start ───────────────────────────────────────────────────────────────────

function onSubmit(form, work) {
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    attempt(work);
  });
}

document.addEventListener("DOMContentLoaded", () => attempt(async () => {
  const s = await api("GET", "/admin/session");
  csrf = s.csrf_token;
  $("csrf").value = csrf;
  $("who").textContent = `${s.role} ${s.user_id}`;
  onSubmit($("booking-filter"), () => refresh(bookings));
  if (s.role !== "admin") {
    // Owners see their properties' bookings and nothing else.
    document.querySelectorAll("[data-admin]").forEach((n) => n.remove());
    await bookings.reload();
    return;
  }
  document.querySelectorAll("section[data-admin]").forEach((n) => { n.hidden = false; });
  onSubmit($("audit-filter"), () => refresh(audit));
  $("verify").addEventListener("click", () => attempt(verifyChain));
  $("all-alerts").addEventListener("click", () => attempt(async () => {
    alertScope = "";
    $("alerts-title").textContent = "Alerts of every project";
    $("all-alerts").hidden = true;
    await refresh(alerts);
  }));
  await Promise.all([proofs, bookings, conversations, reviews, requests, projects, alerts, audit].map((p) => p.reload()));
}));
