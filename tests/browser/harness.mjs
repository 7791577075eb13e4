// What both browser tests share: failing with a message, Chromium with the page's problems
// collected (console errors, page errors, failed requests, HTTP errors, dialogs), the API with a
// bearer token, and the axe-core check.
import { chromium } from "playwright-core";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/** Markup that must stay text wherever a guest or a model can put it. */
export const XSS = "<img src=x onerror=alert(1)>";

export function fail(message) {
  console.error("FAIL: " + message);
  process.exit(1);
}

// Waits until `predicate` (run in the page) holds, polling from here: `page.waitForFunction`
// re-evaluates its predicate from a string once the first try fails, which the pages' CSP (no
// 'unsafe-eval') refuses, so it failed whenever the condition was not already true.
export async function until(page, predicate, what, ms = 10000) {
  const end = Date.now() + ms;
  while (!(await page.evaluate(predicate))) {
    if (Date.now() > end) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** `call(method, path, token, body)` against `base`; a non-2xx answer fails the test. */
export function client(base) {
  return async function call(method, path, token, body) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const res = await fetch(base + path, { method, headers, body: body ? JSON.stringify(body) : undefined });
    const text = await res.text();
    if (!res.ok) fail(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : {};
  };
}

/** A page in headless Debian Chromium whose problems are collected; `finish()` fails on any. */
export async function open(viewport) {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", args: ["--no-sandbox"] });
  const page = await (await browser.newContext({ viewport })).newPage();
  const problems = [];
  let dialogs = 0;
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("requestfailed", (r) => problems.push("request failed: " + r.url() + " " + (r.failure()?.errorText || "")));
  page.on("response", (r) => { if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`); });
  page.on("dialog", async (d) => { dialogs += 1; await d.dismiss(); });
  async function finish() {
    if (dialogs) fail(`${dialogs} dialog(s) opened: markup ran`);
    if (problems.length) fail(problems.join("\n"));
    await browser.close();
  }
  return { page, finish };
}

/** No serious or critical axe-core violation on the page as it is now. */
export async function accessible(page) {
  await page.evaluate(axeSource);
  const result = await page.evaluate(async () => await globalThis.axe.run(document, { resultTypes: ["violations"] }));
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  if (bad.length) fail("axe: " + JSON.stringify(bad.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target) }))));
}
