/**
 * The registry prices the records it writes with the active policy's price table (issue 19), on a real
 * nats-server with the deploy permissions: the registry runs as the `registry` bus user and follows KV
 * `codex-policy` key `active` as the policy service stores it. A known model's usage is priced, an unknown one
 * is metered in tokens only, a new table reprices the records without a new event, a refused document changes
 * nothing and a delete (the built-in default: no prices) leaves them unpriced.
 */
import { randomBytes } from "node:crypto";
import { jetstream } from "@nats-io/jetstream";
import { PermissionViolationError, type NatsConnection, type Status } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PriceTable, TokenCounts } from "../../schemas/budget.js";
import { ACTIVE_POLICY_KEY, DEFAULT_POLICY } from "../../schemas/policy.js";
import type { SessionRecord } from "../../schemas/registry.js";
import {
  BUS_USERS,
  KV_BUCKET_NAMES,
  connectBus,
  ensureBus,
  literalPassword,
  openKvBucket,
  renderAuthorization,
  type BusUser,
  type KvBucket,
} from "../bus/index.js";
import { getSession } from "../clients/registry-queries.js";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { eventually } from "../../test/support/wait.js";
import { startRegistry, type Registry } from "./registry.js";
import { FakeHost, readSessionEntries } from "./test-fleet.js";

const PASSWORDS = Object.fromEntries(BUS_USERS.map((u) => [u, `p${randomBytes(12).toString("hex")}`])) as Record<
  BusUser,
  string
>;
const thresholds = { sweepIntervalMs: 60_000, degradedAfterMs: 60_000, offlineAfterMs: 60_000, staleAfterMs: 60_000 };

let server: NatsTestServer;
const opened: NatsConnection[] = [];
let admin: NatsConnection;
let policyKv: KvBucket;
let registry: Registry;
let host: FakeHost;
const registryStatuses: Status[] = [];

async function connectAs(user: BusUser, onStatus?: (s: Status) => void): Promise<NatsConnection> {
  const nc = await connectBus({
    servers: server.url,
    name: `registry-prices-${user}`,
    user,
    pass: PASSWORDS[user],
    ...(onStatus ? { onStatus } : {}),
  });
  opened.push(nc);
  return nc;
}

/** Stores a policy document with these prices as the policy service does (key `active`, as the `policy` user). */
async function setPrices(prices: PriceTable): Promise<void> {
  await policyKv.put(ACTIVE_POLICY_KEY, JSON.stringify({ ...DEFAULT_POLICY, budgets: { prices } }));
}

const tokens = (input: number, cachedInput: number, output: number, reasoning: number): TokenCounts => ({
  input,
  cachedInput,
  output,
  reasoning,
  total: input + output,
});

const kvRecord = async (threadId: string): Promise<SessionRecord | undefined> =>
  (await readSessionEntries(admin)).get(`h1.${threadId}`)?.record;

beforeAll(async () => {
  server = await startNatsServer({ config: renderAuthorization(literalPassword(PASSWORDS)) });
  admin = await connectAs("admin");
  await ensureBus(admin);
  policyKv = await openKvBucket(await connectAs("policy"), KV_BUCKET_NAMES.policy);
  // gpt-5 at $1.25/M input, $0.125/M cached input, $10/M output.
  await setPrices({ "gpt-5": { inputPerMTokUsd: 1.25, cachedInputPerMTokUsd: 0.125, outputPerMTokUsd: 10 } });
  registry = await startRegistry({
    nc: await connectAs("registry", (s) => registryStatuses.push(s)),
    ...thresholds,
    batchWindowMs: 100,
  });
  const gateway = await connectAs("gateway");
  host = new FakeHost({ nc: gateway, js: jetstream(gateway) }, "h1");
});

afterAll(async () => {
  await registry?.stop();
  await Promise.all(opened.splice(0).map((nc) => nc.close().catch(() => undefined)));
  await server?.stop();
});

describe("registry: records priced with the active policy's price table", () => {
  it("prices a written record with the table from KV codex-policy; an unknown model gets tokens only, flagged", async () => {
    await host.started("t1", "gpt-5");
    await host.tokenUsage("t1", "turn-1", tokens(200_000, 50_000, 10_000, 2_000));
    await host.tokenUsage("t1", "turn-1", tokens(500_000, 300_000, 20_000, 5_000));
    await host.started("t2", "o9-mystery");
    await host.tokenUsage("t2", "turn-1", tokens(1_000, 0, 100, 0));

    const t1 = await eventually(async () => {
      const r = await kvRecord("t1");
      expect(r?.usage?.tokens.total).toBe(520_000);
      return r!;
    });
    // (500,000 - 300,000) × $1.25/M + 300,000 × $0.125/M + 20,000 × $10/M = 0.25 + 0.0375 + 0.2
    expect(t1.model).toBe("gpt-5");
    expect(t1.usage).toMatchObject({ model: "gpt-5", priced: true, tokens: tokens(500_000, 300_000, 20_000, 5_000) });
    expect(t1.usage!.costUsd).toBeCloseTo(0.4875, 12);
    expect(Object.entries(t1.usage!.days)).toEqual([
      ["2023-11-14", { tokens: tokens(500_000, 300_000, 20_000, 5_000), costUsd: t1.usage!.costUsd }],
    ]);

    const t2 = await eventually(async () => {
      const r = await kvRecord("t2");
      expect(r?.usage).not.toBeNull();
      expect(r?.usage).toBeDefined();
      return r!;
    });
    expect(t2.usage).toMatchObject({
      model: "o9-mystery",
      costUsd: null,
      priced: false,
      tokens: tokens(1_000, 0, 100, 0),
    });
    expect(t2.usage!.days["2023-11-14"]!.costUsd).toBeNull();
    // Queries answer the same priced record.
    expect(await getSession(admin, { host: "h1", sessionId: "t1" })).toEqual(t1);
  });

  it("prices the records again when the table changes, without a new event", async () => {
    await setPrices({
      "gpt-5": { inputPerMTokUsd: 2.5, cachedInputPerMTokUsd: 0.25, outputPerMTokUsd: 20 },
      "o9-mystery": { inputPerMTokUsd: 3, outputPerMTokUsd: 15 },
    });
    await eventually(async () => {
      expect((await kvRecord("t1"))?.usage?.costUsd).toBeCloseTo(0.975, 12);
      // 1,000 × $3/M + 100 × $15/M
      expect((await kvRecord("t2"))?.usage).toMatchObject({ priced: true });
      expect((await kvRecord("t2"))?.usage?.costUsd).toBeCloseTo(0.0045, 12);
    });
  });

  it("keeps the table in force through a refused document, and prices nothing once the document is deleted", async () => {
    await policyKv.put(ACTIVE_POLICY_KEY, '{"version": 1, "rules": "not a list"}');
    // An event after the refused document is written with the table still in force.
    await host.tokenUsage("t1", "turn-2", tokens(600_000, 300_000, 20_000, 5_000));
    await eventually(async () => expect((await kvRecord("t1"))?.usage?.tokens.input).toBe(600_000));
    // 300,000 × $2.5/M + 300,000 × $0.25/M + 20,000 × $20/M = 0.75 + 0.075 + 0.4
    expect((await kvRecord("t1"))?.usage?.costUsd).toBeCloseTo(1.225, 12);

    await policyKv.delete(ACTIVE_POLICY_KEY);
    await eventually(async () =>
      expect((await kvRecord("t1"))?.usage).toMatchObject({ costUsd: null, priced: false, model: "gpt-5" }),
    );
  });

  it("did all of it within the registry bus user's permissions", () => {
    const violations = registryStatuses.filter(
      (s) => s.type === "error" && s.error instanceof PermissionViolationError,
    );
    expect(violations).toEqual([]);
  });
});
