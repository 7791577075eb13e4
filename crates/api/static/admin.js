// The admin console: calls the JSON API with the session cookie (sent by the browser, never
// read by this script) and the CSRF token in X-CSRF-Token; everything from guests, models and
// the database is put in the page with textContent.
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

function money(amount) {
  return typeof amount === "number" ? "Rs " + (amount / 100).toLocaleString("en-PK", { maximumFractionDigits: 0 }) : "—";
}

function check(label, value) {
  const [mark, cls] = value === true ? ["✔ passed", "ok"] : value === false ? ["✘ failed", "bad"] : ["? unknown", "unknown"];
  return el("li", { class: cls }, `${label}: ${mark}`);
}

async function loadVerifications() {
  const list = $("verification-list");
  const page = await api("GET", "/api/v1/admin/verifications?limit=50");
  const items = page.items || page;
  list.replaceChildren();
  if (!items.length) {
    list.append(el("p", {}, "No payment proofs are waiting."));
    return;
  }
  for (const v of items) {
    const p = v.payment || {};
    const c = p.checks || {};
    const picture = p.image_url
      ? el("img", { src: p.image_url, alt: `Payment screenshot for ${v.booking}` })
      : el("p", {}, "Typed details, no screenshot");
    const dl = el("dl");
    for (const [k, val] of [["Booking", v.booking], ["Place", v.property], ["Date", `${v.date} ${String(v.shift).replace("_", " ")}`],
      ["Guest", v.guest_name], ["CNIC", v.cnic], ["Amount", money(p.amount)], ["Advance due", money(v.advance_due?.amount)],
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
    list.append(el("article", { class: "proof", "aria-label": `Proof for ${v.booking}` }, picture, el("div", {}, dl, checks, actions)));
  }
}

async function decide(path, body) {
  problem("");
  try {
    await api("POST", path, body);
    await loadVerifications();
  } catch (e) {
    problem(e.message);
  }
}

let current = null;

async function loadConversations() {
  const page = await api("GET", "/api/v1/admin/conversations?limit=50");
  const list = $("conversation-list");
  list.replaceChildren();
  for (const c of page.items || []) {
    const label = `${c.guest_name || c.guest_id} · ${c.channel} · ${c.mode}`;
    const b = el("button", { type: "button" }, label);
    if (c.needs_human) b.append(el("span", { class: "flag" }, " · needs a human"));
    b.addEventListener("click", () => openConversation(c.id));
    list.append(el("li", { class: "conv" }, b));
  }
  if (!(page.items || []).length) list.append(el("li", {}, "No conversations yet."));
}

async function openConversation(id) {
  current = id;
  const c = await api("GET", `/api/v1/admin/conversations/${id}`);
  const box = $("conversation");
  box.replaceChildren(el("h3", {}, `${c.guest_name || "Guest"} (${c.mode})`));
  for (const m of c.messages || []) {
    const who = m.sender === "guest" ? "Guest" : m.sender === "admin" ? "Admin" : "Bot";
    box.append(el("div", { class: "msg " + m.sender }, el("span", { class: "who" }, `${who} · ${m.delivery_status}`), m.text || ""));
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

async function act(path, body) {
  problem("");
  try {
    await api("POST", path, body);
    await loadConversations();
    if (current) await openConversation(current);
  } catch (e) {
    problem(e.message);
  }
}

function usdc(micro) {
  return typeof micro === "number" ? (micro / 1e6).toFixed(6).replace(/0+$/, "").replace(/\.$/, "") + " USDC" : "—";
}

async function loadRequests() {
  const queue = await api("GET", "/api/v1/reviews?limit=50");
  const list = $("review-list");
  list.replaceChildren();
  for (const r of queue.items || []) {
    const why = r.decision?.reason_text || r.decision?.text || r.decision?.outcome || "review";
    const approve = el("button", { type: "button" }, "Approve");
    const reject = el("button", { type: "button", class: "secondary" }, "Reject");
    approve.addEventListener("click", () => review(`/api/v1/reviews/${r.id}/approve`, {}));
    reject.addEventListener("click", () => review(`/api/v1/reviews/${r.id}/reject`, { reason: "rejected in the console" }));
    list.append(el("article", { class: "review", "aria-label": `Request ${r.id} waiting for review` },
      el("span", {}, `${r.id} · ${r.provider}/${r.model} · estimated ${usdc(r.estimated)} · ${why}`), approve, reject));
  }
  if (!(queue.items || []).length) list.append(el("p", {}, "No requests are waiting for review."));
  const page = await api("GET", "/api/v1/requests?limit=20");
  const body = $("request-table").querySelector("tbody");
  body.replaceChildren();
  for (const r of page.items || []) {
    body.append(el("tr", {}, el("td", {}, r.id), el("td", {}, `${r.provider}/${r.model}`), el("td", {}, r.status),
      el("td", {}, r.decision?.outcome || ""), el("td", {}, usdc(r.charged))));
  }
}

async function review(path, body) {
  problem("");
  try {
    await api("POST", path, body);
    await loadRequests();
  } catch (e) {
    problem(e.message);
  }
}

async function verifyChain() {
  const r = await api("GET", "/api/v1/audit/verify");
  $("chain").textContent = r.ok
    ? `The chain verifies: ${r.checked} events checked (${r.unchained} not linked yet).`
    : `Broken at #${r.first_broken?.seq} (${r.first_broken?.event_id}): ${r.first_broken?.reason}`;
}

document.addEventListener("DOMContentLoaded", async () => {
  try {
    const s = await api("GET", "/admin/session");
    csrf = s.csrf_token;
    $("csrf").value = csrf;
    $("who").textContent = `${s.role} ${s.user_id}`;
    $("verify").addEventListener("click", () => verifyChain().catch((e) => problem(e.message)));
    await Promise.all([loadVerifications(), loadConversations(), loadRequests()]);
  } catch (e) {
    problem(e.message);
  }
});
