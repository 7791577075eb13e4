// The guest web chat: one session token in sessionStorage, every reply item of SPEC §10.1
// rendered with DOM nodes and textContent (never HTML from the server), history on reload.
"use strict";

const API = "/api/v1/chat";
const TOKEN = "steward.chat.token";
const $ = (id) => document.getElementById(id);

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

function renderReply(sender, responses, text) {
  const box = bubble(sender);
  if (Array.isArray(responses) && responses.length) responses.forEach((i) => renderItem(box, i, send));
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
