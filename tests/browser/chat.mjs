// The guest chat in headless Chromium against a running Steward:
//   node chat.mjs <base URL> <admin key> <screenshot dir>
// A guest books a farmhouse by clicking choices and filling the identity form on a 360-pixel-wide
// screen, uploads a screenshot, and sees the admin's approval after a reload; a message and a property name
// carrying markup render as text and run nothing; axe finds no serious or critical violation;
// no console error, no failed request, no CSP violation.
import { XSS, accessible, client, fail, open, until } from "./harness.mjs";

const [base, adminKey, shots] = process.argv.slice(2);
const call = client(base);
const api = (method, path, body) => call(method, path, adminKey, body);

function nextSaturday() {
  const d = new Date(Date.now() + 3 * 86400000);
  while (d.getUTCDay() !== 6) d.setUTCDate(d.getUTCDate() + 1);
  return d.toISOString().slice(0, 10);
}

// A farmhouse whose name is markup, cheapest of all, so it is listed first.
const weekdays = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
const hostile = await api("POST", "/api/v1/properties", {
  name: XSS, type: "farm", max_guests: 30, advance_percent: 30, city: "Karachi",
  contact_person: "Akbar", contact_number: "0300-7654321",
});
await api("PUT", `/api/v1/properties/${hostile.id}/prices`, {
  prices: weekdays.flatMap((w) => ["day", "night", "full_day", "full_night"].map((s) => ({ weekday: w, shift: s, amount: 100000 }))),
});

const { page, finish } = await open({ width: 360, height: 740 });

const res = await page.goto(base + "/");
const csp = res.headers()["content-security-policy"] || "";
if (!csp.includes("script-src 'self'") || csp.includes("unsafe-inline")) fail("no strict CSP: " + csp);
if (res.headers()["x-content-type-options"] !== "nosniff") fail("no nosniff");

const log = page.locator("#log");
await log.getByText("shift", { exact: false }).first().waitFor();

// Keyboard alone: the message box, typed, Enter.
await page.locator("#message").focus();
await page.keyboard.type(`farmhouse, ${nextSaturday()}, full night, 12`);
await page.keyboard.press("Enter");
const cards = page.locator(".card");
await cards.first().waitFor();
// The hostile name is shown as text in a card, and nothing ran.
await page.locator(".card h3", { hasText: XSS }).first().waitFor();
if (await page.locator("#log img[src='x']").count()) fail("markup from a property name became an element");
// A place with pictures shows its first one on its card (served by Steward: /pictures/…).
await page.locator(".card img").first().waitFor();
await until(page, () => [...document.querySelectorAll(".card img")].every((i) => i.complete && i.naturalWidth > 0), "the pictures");
if (await page.locator(".card", { hasText: XSS }).locator("img").count()) fail("a place without pictures shows one");

// Choose a real farmhouse by its button, then answer the questions by clicking and typing.
const choose = page.locator(".card button", { hasText: /Choose (?!<)/ }).first();
await choose.click();
await log.getByText("Ready to book", { exact: false }).last().waitFor();
await page.locator("button.choice", { hasText: /^Yes/ }).last().click();
// The identity form: name and CNIC in its fields, sent with its button.
await log.getByText("full name", { exact: false }).last().waitFor();
const identity = page.locator("form.questions").last();
await identity.getByLabel("CNIC").waitFor();
await identity.locator("input[name=name]").fill("Ayesha Khan");
await identity.locator("input[name=cnic]").fill("42201-1234567-1");
await identity.getByRole("button", { name: "Send" }).click();
await log.getByText("42201-*******-1", { exact: false }).last().waitFor();
await page.locator("button.choice", { hasText: /^Yes/ }).last().click();
await page.locator(".summary").last().waitFor();
const reference = (await page.locator(".summary dd").first().textContent()).trim();
if (!/^HB-/.test(reference)) fail("no booking reference: " + reference);
await page.screenshot({ path: `${shots}/chat-booked.png`, fullPage: true });

// A message carrying markup is text.
await page.locator("#message").fill(XSS);
await page.locator("#send").click();
await page.locator(".msg.guest p", { hasText: XSS }).first().waitFor();
await page.locator("#typing").waitFor({ state: "hidden" });

// The payment screenshot, through the file picker.
const shot = await page.screenshot();
await page.locator("#shot").setInputFiles({ name: "payment.png", mimeType: "image/png", buffer: shot });
await log.getByText("payment proof is with our admin", { exact: false }).last().waitFor();

// The admin approves; the guest sees it after a reload (history).
const waiting = await api("GET", "/api/v1/admin/verifications");
const proof = (waiting.items || waiting).find((v) => v.booking === reference);
if (!proof) fail("the proof is not waiting: " + JSON.stringify(waiting));
await api("POST", `/api/v1/admin/verifications/${proof.payment.id}/approve`, {});
await page.reload();
await log.getByText("confirmed", { exact: false }).last().waitFor();
await page.screenshot({ path: `${shots}/chat.png`, fullPage: false });

// A 360-pixel screen needs no sideways scrolling.
const width = await page.evaluate(() => document.documentElement.scrollWidth);
if (width > 360) fail("the page scrolls sideways at 360 px: " + width);

// Accessibility: no serious or critical violation.
await accessible(page);
await finish();
console.log("ok: booked " + reference + ", approved, seen by the guest");
