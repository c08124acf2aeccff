/**
 * Session ownership by Claw in the dashboard (issue 18), every part real: nats-server, the registry folding
 * session events published as a host agent publishes them (services/registry/test-fleet.ts), the policy service,
 * the dashboard server and the built page in Debian's Chromium. Without Claw groups the fleet has no "Owner Claw"
 * cell; with `clawGroups` set by `claw-supervisor policy set` and a `claw-session.<id>` lease written with
 * startLease (as a Claw's plugin writes it), the session's row names its Claw (the lease's age in the title) and
 * the session view its owner, epoch and how long it has held it, and the session's escalation; a viewer sees the
 * same; with the groups removed again the cells go.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { jetstream } from "@nats-io/jetstream";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { ClawGroupsInput } from "../../schemas/claw-groups.js";
import type { Escalation } from "../../schemas/registry.js";
import { KV_BUCKET_NAMES, type Lease, leaseKeys, openKvBucket, startLease } from "../../services/bus/index.js";
import { getSession } from "../../services/clients/registry-queries.js";
import { startPolicyService, type PolicyService } from "../../services/policy/index.js";
import { FakeHost } from "../../services/registry/test-fleet.js";
import { haveChromium, type TestBrowser, useBrowser } from "../support/browser.js";
import { addOperator, signIn, startTestDashboard, type TestDashboard } from "../support/dashboard.js";
import { startStack, type Stack } from "../support/stack.js";
import { untilWith } from "../support/wait.js";

const HOST = "claws-host";
/** Owned by claw-a (group app), escalated to people, nobody's. */
const OWNED = "thr-claws-owned";
const ESCALATED = "thr-claws-escalated";
const UNOWNED = "thr-claws-web";
const key = (thread: string) => `${HOST}.${thread}`;
const LEASE_TTL_MS = 10_000;
const clawGroups: ClawGroupsInput = {
  groups: [
    { name: "root", claws: ["claw-r"], owns: [], parent: null },
    { name: "app", claws: ["claw-a"], owns: [{ repo: "app" }], parent: "root" },
  ],
  leaseTtlMs: LEASE_TTL_MS,
};

let stack: Stack;
let policy: PolicyService;
let dash: TestDashboard;
let fake: FakeHost;
const tokens: Record<string, string> = {};
const leases: Lease[] = [];
let epoch = 0;
const until = untilWith({ timeoutMs: 20_000 });

/** Sets the policy document in force with `clawGroups` (or without, when undefined), through the built CLI. */
async function setGroups(groups: ClawGroupsInput | undefined): Promise<void> {
  const got = await stack.cli("policy", "get", "--json");
  const { clawGroups: _, ...current } = (JSON.parse(got.stdout) as { data: { inForce: { document: object } } }).data
    .inForce.document as { clawGroups?: unknown };
  const file = path.join(stack.stateDir, `policy-claws-${groups ? "on" : "off"}.json`);
  writeFileSync(file, JSON.stringify(groups === undefined ? current : { ...current, clawGroups: groups }));
  const before = policy.policyRevision();
  const set = await stack.cli("policy", "set", file);
  expect(set.code, set.stderr).toBe(0);
  await until("the policy in force", () => policy.policyRevision() !== before);
}

/**
 * The session view reads the transcript (`read` through `POST /api/command`); the fake host has no app-server to
 * answer it, so the policy service says host_offline (503), which Chromium logs: the one console error allowed.
 */
const allowTranscriptRefusal = (browser: TestBrowser) =>
  browser.expectConsoleError({ text: /status of 503/, url: /\/api\/command$/ });
const fleetRow = (page: Page, thread: string) => page.locator(`[data-testid="fleet-row"][data-key="${key(thread)}"]`);
const ownerCell = (page: Page, thread: string) => fleetRow(page, thread).getByTestId("owner-claw");

beforeAll(async () => {
  if (!haveChromium) return; // the suite skips, saying why (test/support/browser.ts)
  stack = await startStack({
    hostId: HOST,
    model: {},
    registry: { sweepIntervalMs: 60_000, degradedAfterMs: 60_000, offlineAfterMs: 60_000, staleAfterMs: 60_000 },
  });
  policy = await startPolicyService({ nc: stack.nc, logger: stack.quiet });
  stack.defer(() => policy.stop());
  // Asked often, so a lease shows within a second rather than five.
  dash = await startTestDashboard(stack, { clawsPollMs: 300 });
  tokens.olga = await addOperator(stack, "olga", "operator");
  tokens.vic = await addOperator(stack, "vic", "viewer");
  fake = new FakeHost({ nc: stack.nc, js: jetstream(stack.nc) }, HOST);
  fake.nowMs = Date.now();
  await fake.synced(OWNED, { repo: "app", preview: "fix the flaky build" });
  await fake.synced(ESCALATED, { repo: "app", preview: "upgrade the parser" });
  await fake.synced(UNOWNED, { repo: "web", preview: "restyle the landing page" });
}, 90_000);

afterAll(async () => {
  for (const l of leases) l.stop();
  await stack?.stop();
});

describe.skipIf(!haveChromium)("session ownership by Claw in the dashboard", () => {
  const browser = useBrowser();
  let page: Page;
  let viewer: Page;
  beforeEach(() => allowTranscriptRefusal(browser));

  it("without Claw groups the fleet and the session view show no owner", async () => {
    page = await browser.newPage();
    await signIn(browser, page, dash.url, tokens.olga as string);
    await page.getByTestId("nav-fleet").click();
    for (const t of [OWNED, ESCALATED, UNOWNED]) await fleetRow(page, t).waitFor();
    // Several polls' worth: the server did ask, and was told "not configured".
    await page.waitForTimeout(1_500);
    expect(await page.getByTestId("owner-claw").count()).toBe(0);
    expect(await page.locator(".fleet-row.with-claws").count()).toBe(0);
    await browser.screenshot(page, "claws-fleet-unconfigured");
    await page.evaluate(`location.hash = ${JSON.stringify(`#/session/${key(OWNED)}`)}`);
    await page.locator(`[data-testid="session-view"][data-key="${key(OWNED)}"]`).waitFor();
    expect(await page.getByTestId("session-owner-claw").count()).toBe(0);
    expect(await page.getByTestId("session-escalation").count()).toBe(0);
  });

  it("with Claw groups and a session lease, the row shows the owning Claw, the session view its lease", async () => {
    await setGroups(clawGroups);
    const kv = await openKvBucket(stack.nc, KV_BUCKET_NAMES.leases, { mustExist: true });
    // As a Claw's plugin does: its liveness, then the session's lease (holder = the Claw's id).
    const live = startLease({ kv, key: leaseKeys.claw("claw-a"), holder: "claw-a", ttlMs: LEASE_TTL_MS });
    leases.push(live);
    await live.acquired;
    const owned = startLease({ kv, key: leaseKeys.clawSession(OWNED), holder: "claw-a", ttlMs: LEASE_TTL_MS });
    leases.push(owned);
    epoch = await owned.acquired;

    await page.evaluate(`location.hash = "#/fleet"`);
    await ownerCell(page, OWNED).and(page.locator('[data-claw="claw-a"]')).waitFor({ timeout: 10_000 });
    expect(await ownerCell(page, OWNED).locator(".main").textContent()).toBe("claw-a");
    expect(await ownerCell(page, OWNED).getAttribute("title")).toMatch(
      new RegExp(`^Owner Claw claw-a: lease held for \\d+ s \\(epoch ${epoch}\\)$`),
    );
    // Every row has the cell once groups are configured; a session nobody holds says so.
    expect(await ownerCell(page, UNOWNED).getAttribute("data-claw")).toBe("");
    expect(await ownerCell(page, UNOWNED).textContent()).toBe("no Claw");
    expect(await page.locator(".fleet-row.with-claws").count()).toBe(3);
    await browser.screenshot(page, "claws-fleet");

    await page.evaluate(`location.hash = ${JSON.stringify(`#/session/${key(OWNED)}`)}`);
    const facts = page.getByTestId("session-owner-claw");
    await facts.and(page.locator('[data-claw="claw-a"]')).waitFor();
    expect(await page.getByTestId("session-lease-epoch").textContent()).toBe(String(epoch));
    expect(await facts.textContent()).toMatch(
      new RegExp(`^claw-a \\(group app\\) · epoch ${epoch} · held for \\d+ s$`),
    );
    await browser.screenshot(page, "claws-session-owned");
  });

  it("shows a session's escalation: to people in the session view and the attention queue, then one accepted", async () => {
    const escalation: Escalation = {
      id: "esc-dash-1",
      fromGroup: "app",
      toGroup: null,
      reason: "the parser upgrade breaks the public API",
      question: "ship it behind a flag?",
      by: "claw:claw-a",
      atMs: Date.now(),
      acceptedBy: null,
      acceptedAtMs: null,
    };
    await fake.publish(fake.envelope(ESCALATED, "agent/annotation", { kind: "escalate", escalation }));
    // Under a loaded CI machine the registry can take a while to fold it: wait for the record, then for the page.
    await until("the escalation in the registry", async () =>
      (await getSession(stack.nc, { host: HOST, sessionId: ESCALATED }))?.escalation?.id === escalation.id
        ? true
        : undefined,
    );
    await page.evaluate(`location.hash = ${JSON.stringify(`#/session/${key(ESCALATED)}`)}`);
    const shown = page.getByTestId("session-escalation");
    await shown.waitFor({ timeout: 20_000 });
    const text = await shown.textContent();
    expect(text).toContain("to people from group app: the parser upgrade breaks the public API");
    expect(text).toContain("(asks: ship it behind a flag?) · by claw:claw-a");
    expect(text).toContain("not accepted yet");
    expect(await page.getByTestId("session-owner-claw").textContent()).toBe("no Claw holds its lease");
    await browser.screenshot(page, "claws-session-escalated");

    // The attention queue lists it under "Needs you" as escalated to people, with its reason.
    await page.getByTestId("nav-attention").click();
    const entry = page
      .locator(`[data-testid="attention-row"][data-key="${key(ESCALATED)}"]`)
      .filter({ hasText: "escalated to people" });
    await entry.first().waitFor({ timeout: 10_000 });
    expect(await entry.first().textContent()).toContain("the parser upgrade breaks the public API");
    await browser.screenshot(page, "claws-attention-escalated");

    // Escalated to the root group and accepted there: the view says by whom.
    const up: Escalation = { ...escalation, id: "esc-dash-2", toGroup: "root", reason: "needs a second look" };
    await fake.publish(fake.envelope(OWNED, "agent/annotation", { kind: "escalate", escalation: up }));
    await fake.publish(
      fake.envelope(OWNED, "agent/annotation", {
        kind: "escalation-accepted",
        id: "esc-dash-2",
        by: "claw-r",
        atMs: Date.now(),
      }),
    );
    await page.evaluate(`location.hash = ${JSON.stringify(`#/session/${key(OWNED)}`)}`);
    await page.getByTestId("session-escalation").and(page.locator('[data-accepted="true"]')).waitFor();
    expect(await page.getByTestId("session-escalation").textContent()).toMatch(
      /^to group root from group app: needs a second look .* · accepted by claw-r/,
    );
  });

  it("a viewer sees the owning Claw too", async () => {
    await browser.context.clearCookies();
    await page.close();
    viewer = await browser.newPage();
    await signIn(browser, viewer, dash.url, tokens.vic as string);
    await viewer.goto(`${dash.url}/#/fleet`);
    await ownerCell(viewer, OWNED).and(viewer.locator('[data-claw="claw-a"]')).waitFor({ timeout: 10_000 });
    expect(await ownerCell(viewer, UNOWNED).textContent()).toBe("no Claw");
    await browser.screenshot(viewer, "claws-fleet-viewer");
    await viewer.goto(`${dash.url}/#/session/${key(OWNED)}`);
    await viewer.getByTestId("session-owner-claw").and(viewer.locator('[data-claw="claw-a"]')).waitFor();
  });

  it("with the groups removed again, the cells go without a reload", async () => {
    await viewer.evaluate(`location.hash = "#/fleet"`);
    await ownerCell(viewer, OWNED).waitFor();
    let loads = 0;
    viewer.on("load", () => loads++);
    await setGroups(undefined);
    await expect.poll(() => viewer.getByTestId("owner-claw").count(), { timeout: 10_000 }).toBe(0);
    expect(await viewer.locator(".fleet-row.with-claws").count()).toBe(0);
    expect(await viewer.locator('[data-testid="fleet-row"]').count()).toBe(3);
    expect(loads).toBe(0);
    await browser.screenshot(viewer, "claws-fleet-groups-removed");
  });
});
