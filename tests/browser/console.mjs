// The admin console in headless Chromium against a running Steward:
//   MEMBER_KEY=… node console.mjs <base URL> <admin key> <screenshot dir>
// A guest's booking with a typed proof, a conversation and an AI call waiting for review are made
// over the API; the admin signs in with the key, approves the proof, takes the conversation over,
// replies, releases it (the transcript shows the bot's cards with their pictures), finds the
// booking by status and reads its history, approves the call in the review queue, sees the
// project's budget and alerts, pages and filters the audit trail and verifies the chain; the demo
// owner signs in and sees bookings only. Markup from the guest stays text; no console error,
// failed request or CSP violation; no serious or critical accessibility violation.
import { XSS, accessible, client, fail, open, until } from "./harness.mjs";

const [base, adminKey, shots] = process.argv.slice(2);
const call = client(base);

// A guest books over the API, pays by typed details, and writes markup in the chat.
const guest = (await call("POST", "/api/v1/chat/sessions", null, {})).token;
const farms = await call("GET", "/api/v1/properties?limit=5", adminKey);
const date = new Date(Date.now() + 4 * 86400000).toISOString().slice(0, 10);
const booking = await call("POST", "/api/v1/bookings", guest, {
  property_id: farms.items[0].id, date, shift: "day", guests: 10,
  guest: { name: "Ayesha Khan", cnic: "42201-1234567-1" },
});
await call("POST", `/api/v1/bookings/${booking.reference}/payments`, guest, {
  amount: booking.advance_due.amount, transaction_id: "EP-" + Date.now(), sender_name: "Ayesha Khan",
});
await call("POST", "/api/v1/chat/messages", guest, { message: XSS });
// A search, so the transcript holds property cards.
const search = await call("POST", "/api/v1/chat/messages", guest, { message: `farmhouse, ${date}, night, 10` });
if (!search.responses.some((r) => r.type === "property_list")) fail("no property list: " + JSON.stringify(search));

// A price on local/echo, and the demo member's project sends every priced call to review; one
// call waits in the queue.
await call("PUT", "/api/v1/models/local/echo", adminKey, { per_request: 1000 });
const memberKey = process.env.MEMBER_KEY || fail("MEMBER_KEY is not set");
const project = (await call("GET", "/api/v1/projects", memberKey)).items[0].id;
await call("PUT", `/api/v1/projects/${project}/policy`, adminKey, {
  allowed_providers: ["local"], allowed_models: ["local/echo"], auto_approve_risk_threshold: 0.0, require_approval_above: 0,
});
const queued = await call("POST", "/api/v1/requests", memberKey, {
  provider: "local", model: "echo", operation: "chat", messages: [{ role: "user", content: "hello" }],
});
if (queued.status !== "pending") fail("the call was not queued for review: " + JSON.stringify(queued));

// More audit events than the console's page of 25, so the audit list has a second page.
for (let i = (await call("GET", "/api/v1/audit?limit=30", adminKey)).items.length; i <= 30; i += 1) {
  await call("POST", "/api/v1/api-keys", adminKey, { name: "console test " + i });
}

const { page, finish } = await open({ width: 1200, height: 900 });

// Without a session the console sends us to sign in; the key is typed into the form.
await page.goto(base + "/admin");
if (!page.url().endsWith("/admin/sign-in")) fail("no redirect to sign-in: " + page.url());
await page.locator("#key").fill(adminKey);
await page.getByRole("button", { name: "Sign in" }).click();
await page.waitForURL(base + "/admin");
const cookies = await page.context().cookies();
const session = cookies.find((c) => c.name === "steward_console");
if (!session || !session.httpOnly || session.sameSite !== "Strict") fail("session cookie: " + JSON.stringify(session));
if ((await page.evaluate(() => document.cookie)).includes("steward_console")) fail("the script can read the session");

// The proof: its checks and masked CNIC, then approve.
const proof = page.locator("article.proof", { hasText: booking.reference });
await proof.waitFor();
await proof.getByText("42201-*******-1").waitFor();
await proof.getByText("Amount ≥ advance due: ✔ passed").waitFor();
await page.screenshot({ path: `${shots}/admin.png` });
await proof.getByRole("button", { name: "Approve" }).click();
await page.getByText("No payment proofs are waiting.").waitFor();
const after = await call("GET", `/api/v1/bookings/${booking.reference}`, adminKey);
if (after.status !== "confirmed") fail("not confirmed: " + after.status);

// The conversation: take over, reply, release; the guest's markup is text.
await page.locator("#conversation-list button").first().click();
await page.locator("#conversation .msg.guest", { hasText: XSS }).waitFor();
// Structured replies as the guest saw them: cards with the place's picture, buttons disabled.
const picture = page.locator("#conversation .card img").first();
await picture.waitFor();
await until(page, () => [...document.querySelectorAll("#conversation .card img")].every((i) => i.complete && i.naturalWidth > 0), "the pictures");
if (!(await page.locator("#conversation .card button").first().isDisabled())) fail("a transcript button is live");
await page.locator("#conversation").screenshot({ path: `${shots}/admin-conversation.png` });
await page.getByRole("button", { name: "Take over" }).click();
await page.getByRole("button", { name: "Release to the bot" }).waitFor();
await page.getByLabel("Reply as a human").fill("Hello from the team");
await page.getByRole("button", { name: "Reply" }).click();
await page.locator("#conversation .msg.admin", { hasText: "Hello from the team" }).waitFor();
await page.getByRole("button", { name: "Release to the bot" }).click();
await page.getByRole("button", { name: "Take over" }).waitFor();
const history = await call("GET", "/api/v1/chat/history", guest);
if (!JSON.stringify(history).includes("Hello from the team")) fail("the guest did not get the reply");

// Bookings: the confirmed one by its status, and its history from the audit trail.
await page.locator("#booking-filter select[name=status]").selectOption("confirmed");
await page.locator("#booking-filter input[name=from]").fill(date);
await page.locator("#booking-filter").getByRole("button", { name: "Show" }).click();
const row = page.locator("#booking-table tbody tr", { hasText: booking.reference });
await row.waitFor();
if ((await page.locator("#booking-table tbody tr").count()) !== (await page.locator("#booking-table tbody tr", { hasText: "confirmed" }).count())) fail("the status filter let other bookings through");
await row.getByRole("button", { name: "History of " + booking.reference }).click();
for (const action of ["booking.created", "booking.waiting", "booking.confirmed"]) {
  await page.locator("#booking-history li", { hasText: action }).first().waitFor();
}

// The review queue: approve the waiting call; it executes and is charged.
const waitingCall = page.locator("article.review", { hasText: queued.id });
await waitingCall.waitFor();
await waitingCall.getByRole("button", { name: "Approve" }).click();
await page.getByText("No requests are waiting for review.").waitFor();
await page.locator("#request-table tr", { hasText: queued.id }).getByText("executed").waitFor();
const executed = await call("GET", `/api/v1/requests/${queued.id}`, adminKey);
if (executed.status !== "executed" || !(executed.charged > 0)) fail("the approved call: " + JSON.stringify(executed));

// Budgets and alerts: the project's budget, then its alerts alone, then everyone's again.
const projectRow = page.locator("#project-table tbody tr", { hasText: project });
await projectRow.locator("td.ok, td.bad").waitFor();
await projectRow.getByRole("button").click();
await page.locator("#alerts-title", { hasText: project }).waitFor();
await page.getByRole("button", { name: "Show every project's alerts" }).click();
await page.locator("#alerts-title", { hasText: "every project" }).waitFor();

// The audit trail: a second page by its cursor, then a filter.
const auditRows = page.locator("#audit-table tbody tr");
await auditRows.nth(24).waitFor();
await page.locator("#audit .more").click();
await auditRows.nth(25).waitFor();
await page.locator("#audit-filter input[name=action]").fill("booking.confirmed");
await page.locator("#audit-filter").getByRole("button", { name: "Show" }).click();
await page.locator("#audit-table tbody tr", { hasText: booking.reference }).waitFor();
if ((await auditRows.count()) !== (await page.locator("#audit-table tbody tr", { hasText: "booking.confirmed" }).count())) fail("the action filter let other events through");

// The audit chain verifies.
await page.getByRole("button", { name: "Verify the chain" }).click();
await page.getByText("The chain verifies").waitFor();

await accessible(page);
if (await page.locator("img[src='x']").count()) fail("guest markup became an element");

// Sign out: the console is closed again.
await page.getByRole("button", { name: "Sign out" }).click();
await page.waitForURL(base + "/admin/sign-in");
await page.goto(base + "/admin");
if (!page.url().endsWith("/admin/sign-in")) fail("still signed in after sign-out");

await finish();

// The demo owner signs in: the bookings of their places, and no admin section.
const ownerKey = process.env.OWNER_KEY || fail("OWNER_KEY is not set");
const owner = await open({ width: 1000, height: 800 });
await owner.page.goto(base + "/admin/sign-in");
await owner.page.locator("#key").fill(ownerKey);
await owner.page.getByRole("button", { name: "Sign in" }).click();
await owner.page.waitForURL(base + "/admin");
await owner.page.locator("#booking-table tbody tr", { hasText: booking.reference }).waitFor();
for (const id of ["verifications", "conversations", "requests", "budgets", "audit"]) {
  if (await owner.page.locator("#" + id).count()) fail("an owner sees the " + id + " section");
}
await accessible(owner.page);
await owner.finish();
console.log("ok: approved " + booking.reference + ", took over, replied, released, approved " + queued.id + ", chain verified");
