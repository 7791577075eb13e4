// The guest web chat: one session token in sessionStorage, every reply item of SPEC §10.1
// rendered with DOM nodes and textContent (never HTML from the server), history on reload.
"use strict";

const API = "/api/v1/chat";
const TOKEN = "steward.chat.token";
const $ = (id) => document.getElementById(id);

// WhatsApp-style *bold* and _italic_, as elements; line breaks kept.
function formatted(text) {
  const frag = document.createDocumentFragment();
  String(text || "").split("\n").forEach((line, i) => {
    if (i > 0) frag.append(el("br"));
    // A marker opens after a non-word character and closes before one, so `*42201-*******-1*`
    // is one bold CNIC and `snake_case` stays as typed.
    const parts = line.split(/((?<![\w*])\*[^\n]+?(?<![\s*])\*(?![*\w])|(?<![\w_])_[^\n]+?(?<![\s_])_(?![_\w]))/);
    parts.forEach((part, j) => {
      if (j % 2 === 1 && part.startsWith("*")) frag.append(el("strong", {}, part.slice(1, -1)));
      else if (j % 2 === 1) frag.append(el("em", {}, part.slice(1, -1)));
      else if (part) frag.append(document.createTextNode(part));
    });
  });
  return frag;
}

function money(m) {
  if (!m || typeof m.amount !== "number") return "";
  const value = (m.amount / 100).toLocaleString("en-PK", { maximumFractionDigits: 0 });
  return (m.currency === "PKR" ? "Rs " : (m.currency || "") + " ") + value;
}

let token = sessionStorage.getItem(TOKEN);
let busy = false;

async function call(method, path, body, isForm) {
  const headers = { Authorization: "Bearer " + token };
  if (body && !isForm) headers["Content-Type"] = "application/json";
  const res = await fetch(API + path, { method, headers, body: isForm ? body : body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  const data = text ? JSON.parse(text) : {};
  if (!res.ok) {
    const err = new Error(data.detail || data.title || "Something went wrong");
    err.status = res.status;
    throw err;
  }
  return data;
}

async function ensureSession(fresh) {
  if (token && !fresh) return;
  const res = await fetch(API + "/sessions", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
  const data = await res.json();
  token = data.token;
  sessionStorage.setItem(TOKEN, token);
}

function bubble(sender) {
  const who = sender === "guest" ? "You" : sender === "admin" ? "Our team" : "Assistant";
  const node = el("article", { class: "msg " + sender }, el("span", { class: "who" }, who));
  $("log").append(node);
  return node;
}

function renderItem(box, item) {
  switch (item.type) {
    case "text":
      box.append(el("p", {}, formatted(item.text)));
      break;
    case "error":
      box.append(el("p", { class: "error" }, formatted(item.text)));
      break;
    case "choices": {
      if (item.text) box.append(el("p", {}, formatted(item.text)));
      const row = el("div", { class: "choices", role: "group", "aria-label": item.text || "Choices" });
      for (const c of item.choices || []) {
        const b = el("button", { type: "button", class: "choice" }, c.label);
        b.addEventListener("click", () => send(c.label));
        row.append(b);
      }
      box.append(row);
      break;
    }
    case "property_list": {
      if (item.text) box.append(el("p", {}, formatted(item.text)));
      const cards = el("div", { class: "cards" });
      for (const p of item.items || []) {
        const card = el("section", { class: "card", "aria-label": p.name });
        if (p.picture) card.append(el("img", { src: p.picture, alt: p.name }));
        card.append(el("h3", {}, p.name));
        card.append(el("p", { class: "meta" }, `${p.type === "hut" ? "Hut" : "Farmhouse"} · ${p.city || ""}`));
        card.append(el("p", { class: "meta" }, `${money(p.price)} · up to ${p.max_guests} guests`));
        const b = el("button", { type: "button", class: "choice" }, "Choose " + p.name);
        b.addEventListener("click", () => send(p.name));
        card.append(b);
        cards.append(card);
      }
      box.append(cards);
      break;
    }
    case "media": {
      const gallery = el("div", { class: "gallery" });
      for (const m of item.items || []) {
        if (m.kind === "video") gallery.append(el("video", { src: m.url, controls: "", preload: "none" }));
        else gallery.append(el("img", { src: m.url, alt: "Picture of the place", loading: "lazy" }));
      }
      box.append(gallery);
      break;
    }
    case "booking_summary": {
      const b = item.booking || {};
      const dl = el("dl");
      for (const [k, v] of [["Reference", b.reference], ["Status", b.status], ["Place", b.property], ["Date", b.date],
        ["Shift", String(b.shift || "").replace("_", " ")], ["Guests", String(b.guests)], ["Total", money(b.total)],
        ["Advance due", money(b.advance_due)]]) {
        dl.append(el("dt", {}, k), el("dd", {}, v || ""));
      }
      box.append(el("section", { class: "card summary", "aria-label": "Booking " + (b.reference || "") }, dl));
      break;
    }
    case "questions": {
      if (item.text) box.append(el("p", {}, formatted(item.text)));
      const form = el("form", { class: "questions" });
      const inputs = [];
      (item.questions || []).forEach((q, i) => {
        const id = `q-${Date.now()}-${i}`;
        const input = el("input", { id, name: q.field, type: q.field === "guests" ? "number" : q.field === "date" ? "date" : "text" });
        inputs.push(input);
        form.append(el("label", { for: id }, q.label, input));
      });
      form.append(el("button", { type: "submit" }, "Send"));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const answer = inputs.map((i) => i.value.trim()).filter(Boolean).join(", ");
        if (answer) send(answer);
      });
      box.append(form);
      break;
    }
    default:
      if (item.text) box.append(el("p", {}, formatted(item.text)));
  }
}

function renderReply(sender, responses, text) {
  const box = bubble(sender);
  if (Array.isArray(responses) && responses.length) responses.forEach((i) => renderItem(box, i));
  else if (text) box.append(el("p", {}, formatted(text)));
  box.scrollIntoView({ block: "end" });
}

function showProblem(message) {
  $("problem").textContent = message;
  $("problem").hidden = !message;
}

function working(on) {
  busy = on;
  $("typing").hidden = !on;
  $("send").disabled = on;
}

async function deliver(run) {
  if (busy) return;
  showProblem("");
  working(true);
  try {
    const reply = await run();
    if (reply.responses && reply.responses.length) renderReply("bot", reply.responses, reply.text);
  } catch (e) {
    if (e.status === 401) {
      await ensureSession(true);
      showProblem("Your session had ended; we started a new one. Please send that again.");
    } else showProblem(e.message);
  } finally {
    working(false);
    $("message").focus();
  }
}

function send(text) {
  const message = String(text || "").trim();
  if (!message || busy) return;
  const box = bubble("guest");
  box.append(el("p", {}, formatted(message)));
  box.scrollIntoView({ block: "end" });
  return deliver(() => call("POST", "/messages", { message }));
}

function upload(file) {
  if (!file || busy) return;
  const box = bubble("guest");
  box.append(el("p", {}, "Sent a picture: " + (file.name || "screenshot")));
  const form = new FormData();
  form.append("image", file, file.name || "screenshot.png");
  return deliver(() => call("POST", "/images", form, true));
}

async function loadHistory() {
  try {
    const page = await call("GET", "/history?limit=50");
    const items = (page.items || []).slice().reverse();
    for (const m of items) {
      if (m.sender === "guest") {
        const box = bubble("guest");
        box.append(el("p", {}, formatted(m.text)));
      } else renderReply(m.sender, m.responses, m.text);
    }
    return items.length;
  } catch (e) {
    if (e.status === 401) {
      await ensureSession(true);
      return 0;
    }
    throw e;
  }
}

async function start() {
  await ensureSession(false);
  const count = await loadHistory();
  if (count === 0) await send("hi");
}

document.addEventListener("DOMContentLoaded", () => {
  $("composer").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("message").value;
    $("message").value = "";
    send(text);
  });
  $("message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("composer").requestSubmit();
    }
  });
  $("shot").addEventListener("change", (e) => {
    upload(e.target.files[0]);
    e.target.value = "";
  });
  document.addEventListener("paste", (e) => {
    const file = [...(e.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (file) {
      e.preventDefault();
      upload(file);
    }
  });
  $("reset").addEventListener("click", async () => {
    if (busy) return;
    try {
      await call("DELETE", "/session");
    } catch (e) {
      showProblem(e.message);
    }
    $("log").replaceChildren();
    send("hi");
  });
  start().catch((e) => showProblem(e.message));
});
