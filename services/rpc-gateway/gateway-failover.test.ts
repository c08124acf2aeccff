/**
 * Gateway failover end to end: a real nats-server with the per-service permissions of deploy/nats (each gateway
 * connects as user `gateway`, commands go out as user `policy` through callHost, the policy service's own
 * call), two gateway processes, and the real host agent on the real codex app-server (fake model), given both
 * gateway URLs.
 * - SIGKILL the gateway the agent is on: it reconnects through the other, the host lease moves there (its epoch
 *   rises), every command issued meanwhile gets a typed result, none runs twice, and commands afterwards run.
 * - Two agents claiming one host id (the first run as `claw-supervisor host-agent`): the newer holds it, the
 *   older is told why, exits with EXIT_HOST_CLAIMED instead of reconnecting, and FLEET gets a host-conflict
 *   notice.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentEventTypes } from "../../schemas/agent-events.js";
import { SessionEventEnvelopeSchema } from "../../schemas/bus.js";
import { textInput } from "../../schemas/codex/index.js";
import { FleetEvent } from "../../schemas/fleet.js";
import { HostRpcResult, type HostRpcRequest } from "../../schemas/host-rpc.js";
import { TEST_BUS_CONFIG } from "../../test/support/bus.js";
import { startCodexAppServer, type CodexAppServer } from "../../test/support/codex-harness.js";
import { startFakeModel, type FakeModel } from "../../test/support/fake-model.js";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { recordNotifications } from "../../test/support/notifications.js";
import { until } from "../../test/support/wait.js";
import {
  BUS_USERS,
  type BusUser,
  connectBus,
  ensureBus,
  LEASE_BUCKET,
  leaseKeys,
  leaseView,
  literalPassword,
  openKvBucket,
  readStream,
  renderAuthorization,
  STREAM_NAMES,
  subjects,
  type KvBucket,
} from "../bus/index.js";
import { EXIT_HOST_CLAIMED } from "../cli/host-agent.js";
import type { CliIo } from "../cli/io.js";
import { runCli } from "../cli/run.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../codex-rpc/index.js";
import { startHostAgent, type HostAgent } from "../host-agent/index.js";
import { callHost } from "../policy/bus-calls.js";
import { startGatewayProcess, type GatewayProcess } from "./test-gateway-process.js";
import { createHostToken, openHostTokenBucket } from "./tokens.js";

const PASSWORDS = Object.fromEntries(BUS_USERS.map((u) => [u, `p${Math.random().toString(36).slice(2)}x`])) as Record<
  BusUser,
  string
>;
const HOST_TTL_MS = 6_000;

let nats: NatsTestServer;
let admin: NatsConnection;
let policy: NatsConnection;
let leases: KvBucket;
let model: FakeModel;
let codex: CodexAppServer;
let codexClient: CodexRpcClient;
let threadId: string;
let tmp: string;
const gateways: GatewayProcess[] = [];
const agents: HostAgent[] = [];

const urlAs = (user: BusUser): string => nats.url.replace("nats://", `nats://${user}:${PASSWORDS[user]}@`);
const startGw = async (gatewayId: string): Promise<GatewayProcess> => {
  const gw = await startGatewayProcess({
    servers: urlAs("gateway"),
    gatewayId,
    hostLeaseTtlMs: HOST_TTL_MS,
    pingIntervalMs: 1_000,
  });
  gateways.push(gw);
  return gw;
};
const lease = async (hostId: string) => leaseView(await leases.get(leaseKeys.host(hostId)));
const token = async (hostId: string): Promise<string> =>
  (await createHostToken(await openHostTokenBucket(admin), hostId)).token;

async function storedEvents(hostId: string) {
  const events = [];
  for await (const m of readStream(admin, STREAM_NAMES.events)) {
    const e = SessionEventEnvelopeSchema.parse(JSON.parse(new TextDecoder().decode(m.data)));
    if (e.hostId === hostId) events.push(e);
  }
  return events;
}

async function conflictNotices(hostId: string): Promise<FleetEvent[]> {
  const found: FleetEvent[] = [];
  for await (const m of readStream(admin, STREAM_NAMES.fleet)) {
    if (m.subject !== subjects.fleet("host-conflict")) continue;
    const notice = FleetEvent.parse(JSON.parse(new TextDecoder().decode(m.data)));
    if (notice.hostId === hostId) found.push(notice);
  }
  return found;
}

beforeAll(async () => {
  tmp = mkdtempSync(path.join(os.tmpdir(), "gateway-failover-"));
  nats = await startNatsServer({ config: renderAuthorization(literalPassword(PASSWORDS)) });
  admin = await connectBus({ servers: nats.url, name: "failover-admin", user: "admin", pass: PASSWORDS.admin });
  await ensureBus(admin, TEST_BUS_CONFIG);
  policy = await connectBus({ servers: nats.url, name: "failover-policy", user: "policy", pass: PASSWORDS.policy });
  leases = await openKvBucket(admin, LEASE_BUCKET);
  model = await startFakeModel({ defaultReply: { kind: "text", text: "Hello from the fake model." } });
  codex = await startCodexAppServer({ model, listen: "unix" });
  codexClient = await connectCodex(parseEndpoint(codex.endpoint));
  const log = recordNotifications(codexClient);
  await codexClient.initialize({ clientInfo: { name: "gateway-failover-test", version: "0.0.0" } });
  threadId = (await codexClient.request("thread/start", { cwd: codex.workspace })).thread.id;
  const { turn } = await codexClient.request("turn/start", { threadId, input: textInput("a first turn") });
  await log.waitFor("turn/completed", (p) => p.turn.id === turn.id, 30_000);
}, 60_000);

afterAll(async () => {
  for (const a of agents) await a.stop();
  for (const g of gateways) await g.stop();
  codexClient?.close();
  await codex?.stop();
  await model?.stop();
  await policy?.close();
  await admin?.close();
  await nats?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe("gateway failover with the real host agent and codex", () => {
  it("SIGKILL the gateway the agent is on: it reconnects through the other, the lease moves, commands get typed results and run once", async () => {
    const hostId = "host-failover";
    const gwA = await startGw("gw-a");
    const gwB = await startGw("gw-b");
    const agent = await startHostAgent({
      hostId,
      gatewayUrl: [gwA.url, gwB.url],
      token: await token(hostId),
      stateDir: path.join(tmp, "state-failover"),
      endpoint: codex.endpoint,
      heartbeatMs: 500,
      backoff: { initialMs: 100, maxMs: 500 },
    });
    agents.push(agent);
    const before = await until("the agent holds the host through gw-a", async () => {
      const view = await lease(hostId);
      return agent.status().gateway === "ready" && view?.record.holder === "gw-a" && view;
    });

    // Commands in a loop, as the policy service sends them: each annotates the thread with its own id.
    const results: { id: string; result: HostRpcResult }[] = [];
    let running = true;
    const loop = (async () => {
      for (let i = 0; running; i++) {
        const id = `cmd-${i}`;
        const request: HostRpcRequest = {
          op: "annotate",
          threadId,
          annotation: { kind: "assign", owner: id },
        };
        results.push({ id, result: await callHost(policy, { id, hostId, request, timeoutMs: 2_000 }, 500) });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const okCount = () => results.filter((r) => r.result.ok).length;
    await until("commands run through gw-a", () => okCount() >= 5);

    await gwA.kill();
    const after = await until(
      "the agent holds the host through gw-b",
      async () => {
        const view = await lease(hostId);
        return agent.status().gateway === "ready" && view?.record.holder === "gw-b" && view;
      },
      { timeoutMs: 20_000 },
    );
    expect(after.epoch).toBeGreaterThan(before.epoch);
    expect(after.record.note).toContain(`agent=${agent.epoch}`);
    const okAtFailover = okCount();
    await until("commands run through gw-b", () => okCount() >= okAtFailover + 5, { timeoutMs: 20_000 });
    running = false;
    await loop;

    // A read through the real app-server after the failover.
    const read = await callHost(
      policy,
      { id: "read-after", hostId, request: { op: "read", threadId, limit: 5, view: "summary" }, timeoutMs: 10_000 },
      1_000,
    );
    expect(read.ok).toBe(true);
    expect((read as { data: { turns: unknown[] } }).data.turns.length).toBeGreaterThanOrEqual(1);

    // Every command got a typed result; each that ran is stored once; none that says so ran at all.
    for (const r of results) expect(HostRpcResult.safeParse(r.result).success, r.id).toBe(true);
    const failures = results.filter((r) => !r.result.ok);
    for (const f of failures) expect(["host_offline", "timeout"]).toContain((f.result as { code: string }).code);
    await until("the agent's buffer is drained", () => agent.status().buffer.events === 0, { timeoutMs: 10_000 });
    const annotations = (await storedEvents(hostId)).filter((e) => e.type === agentEventTypes.annotation);
    const runs = (id: string) => annotations.filter((e) => (e.payload as { owner?: string }).owner === id).length;
    for (const r of results) {
      if (r.result.ok) expect(runs(r.id), r.id).toBe(1);
      else if (/nothing was (sent|run)/.test(r.result.message)) expect(runs(r.id), r.id).toBe(0);
      else expect(runs(r.id), r.id).toBeLessThanOrEqual(1);
    }
    // A reconnect of the same agent run is no conflict.
    expect(await conflictNotices(hostId)).toEqual([]);
  }, 90_000);

  it("two agents with one host id: the newer holds it, the older is told why and exits instead of reconnecting, and FLEET has a host-conflict notice", async () => {
    const hostId = "host-twin";
    const gwC = await startGw("gw-c");
    const gwD = await startGw("gw-d");
    const tokenFile = path.join(tmp, "twin-token");
    writeFileSync(tokenFile, `${await token(hostId)}\n`);

    // The older agent, as `claw-supervisor host-agent` runs it, with both gateways.
    const out = { stdout: "", stderr: "" };
    const io: CliIo = {
      stdout: (t) => void (out.stdout += t),
      stderr: (t) => void (out.stderr += t),
      env: { HOME: tmp },
      stopRequested: new Promise(() => undefined),
    };
    const exit = runCli(
      [
        "host-agent",
        "--host-id",
        hostId,
        "--gateway",
        `${gwC.url},${gwD.url}`,
        "--token-file",
        tokenFile,
        "--endpoint",
        codex.endpoint,
        "--state-dir",
        path.join(tmp, "state-older"),
        "--json",
      ],
      io,
    );
    const older = await until("the older agent runs", () => {
      const line = out.stdout.split("\n").find((l) => l.startsWith("{"));
      return line ? (JSON.parse(line) as { epoch: string; gatewayUrl: string[] }) : undefined;
    });
    expect(older.gatewayUrl).toEqual([gwC.url, gwD.url]);
    await until("the older agent holds the host", async () =>
      (await lease(hostId))?.record.note?.includes(`agent=${older.epoch}`),
    );

    const newer = await startHostAgent({
      hostId,
      gatewayUrl: [gwD.url, gwC.url],
      token: { file: tokenFile },
      stateDir: path.join(tmp, "state-newer"),
      endpoint: codex.endpoint,
      hostname: "second-box",
      backoff: { initialMs: 100, maxMs: 500 },
    });
    agents.push(newer);

    expect(await exit).toBe(EXIT_HOST_CLAIMED);
    expect(out.stderr).toContain(`another host agent holds host ${hostId}`);
    expect(out.stderr).toContain(`second-box (run ${newer.epoch})`);
    expect(newer.status().gateway).toBe("ready");
    const held = await lease(hostId);
    expect(held?.record.note).toMatch(
      new RegExp(
        `^agent=${newer.epoch} hostname=second-box key=[A-Za-z0-9_-]{22} token=[0-9a-f]{16} from=127\\.0\\.0\\.1$`,
      ),
    );
    // No fight: the newer keeps the host (its epoch stays) while the older is gone.
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await lease(hostId))?.epoch).toBe(held?.epoch);
    expect(newer.status().gateway).toBe("ready");

    await until("the host-conflict notice is in FLEET", async () => (await conflictNotices(hostId)).length > 0);
    const notices = await conflictNotices(hostId);
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({
      kind: "host-conflict",
      priority: "high",
      conflict: {
        holder: { agentEpoch: newer.epoch, hostname: "second-box" },
        displaced: { agentEpoch: older.epoch },
        leaseEpoch: held?.epoch,
      },
    });
    // The gateways (as user `gateway`) followed codex-leases and wrote leases and the notice without a refusal.
    for (const g of gateways) {
      expect(g.stderr()).not.toContain("cannot follow codex-leases");
      expect(g.stderr()).not.toMatch(/Permissions Violation|cannot publish the host-conflict notice/i);
    }
  }, 60_000);
});
