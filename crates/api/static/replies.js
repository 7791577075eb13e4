// The reply items of SPEC §10.1 as DOM nodes, shared by the guest chat and the console's
// transcripts: text only through textContent (never HTML from the server).
"use strict";

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

// A choice button: `choose(label)` on click, or disabled when there is nothing to answer.
function button(label, choose) {
  const b = el("button", { type: "button", class: "choice" }, label);
  if (typeof choose === "function") b.addEventListener("click", () => choose(label));
  else b.disabled = true;
  return b;
}

// The first picture of a property (from its public details), put at the top of its card.
const pictures = new Map();
function picture(card, p) {
  if (!p.id) return;
  if (!pictures.has(p.id)) {
    pictures.set(p.id, fetch("/api/v1/properties/" + encodeURIComponent(p.id), { headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((d) => (d && (d.media || []).find((m) => m.kind === "image")) || null)
      .catch(() => null));
  }
  pictures.get(p.id).then((m) => {
    if (m) card.prepend(el("img", { src: m.url, alt: "Picture of " + p.name, loading: "lazy" }));
  });
}

// One reply item into `box`. `choose(label)` answers a button; without it (the console's
// transcript) the buttons are shown as the guest saw them, but disabled.
function renderItem(box, item, choose) {
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
        const b = button(c.label, choose);
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
        card.append(el("h3", {}, p.name));
        picture(card, p);
        card.append(el("p", { class: "meta" }, `${p.type === "hut" ? "Hut" : "Farmhouse"} · ${p.city || ""}`));
        card.append(el("p", { class: "meta" }, `${money(p.price)} · up to ${p.max_guests} guests`));
        const b = button("Choose " + p.name, choose && (() => choose(p.name)));
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
      const submit = el("button", { type: "submit" }, "Send");
      if (!choose) {
        submit.disabled = true;
        inputs.forEach((i) => { i.disabled = true; });
      }
      form.append(submit);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const answer = inputs.map((i) => i.value.trim()).filter(Boolean).join(", ");
        if (answer && choose) choose(answer);
      });
      box.append(form);
      break;
    }
    default:
      if (item.text) box.append(el("p", {}, formatted(item.text)));
  }
}

