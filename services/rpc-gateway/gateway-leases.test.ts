/**
 * Two gateway instances on one bus (a real nats-server), scripted host agents: the host lease in codex-leases
 * keeps one live connection per host id across them. A reconnect of the same agent run takes over silently; a
 * different agent run takes over too, and the displaced one is closed with 4409 naming the holder while a
 * host-conflict notice goes to FLEET; commands reach the holder only, each once, each with a typed result.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { FleetEvent } from "../../schemas/fleet.js";
import { HostLifecycle } from "../../schemas/gateway.js";
import { HostRpcResult } from "../../schemas/host-rpc.js";
import { useBus } from "../../test/support/bus.js";
import { until } from "../../test/support/wait.js";
import {
  LEASE_BUCKET,
  leaseKeys,
  leaseView,
  openKvBucket,
  readStream,
  STREAM_NAMES,
  subjects,
  type KvBucket,
} from "../bus/index.js";
import { ServiceMetrics } from "../ops/metrics.js";
import { startGateway, type Gateway } from "./server.js";
import { connectAgent, eventFrame, hello, type TestAgent } from "./test-agent.js";
import { createHostToken, openHostTokenBucket } from "./tokens.js";

// Long enough that a takeover noticed within it was noticed through the bucket follow, not a failed renewal.
const TTL = 20_000;

describe("host leases across two gateway instances", () => {
  const bus = useBus({ ensure: true });
  let gw1: Gateway;
  let gw2: Gateway;
  let leases: KvBucket;
  let observer: NatsConnection;
  const metrics1 = new ServiceMetrics("rpc-gateway", "gw-1", { defaultMetrics: false });
  const metrics2 = new ServiceMetrics("rpc-gateway", "gw-2", { defaultMetrics: false });
  const agents: TestAgent[] = [];
  let tokens: KvBucket;

  beforeAll(async () => {
    const quiet = pino({ level: "silent" });
    const common = { port: 0, logger: quiet, hostLeaseTtlMs: TTL, heartbeatMinIntervalMs: 0 };
    gw1 = await startGateway({ ...common, natsConnection: await bus.connect(), gatewayId: "gw-1", metrics: metrics1 });
    gw2 = await startGateway({ ...common, natsConnection: await bus.connect(), gatewayId: "gw-2", metrics: metrics2 });
    leases = await openKvBucket(bus.nc, LEASE_BUCKET);
    tokens = await openHostTokenBucket(bus.nc);
    observer = await bus.connect();
  });
  afterEach(() => {
    for (const a of agents.splice(0)) a.ws.terminate();
  });
  afterAll(async () => {
    await gw1?.stop();
    await gw2?.stop();
  });

  /** A scripted agent of run `epoch` on `gw`, welcomed; it answers every rpc frame with `{ok, data: {by}}`. */
  async function agentOn(gw: Gateway, hostId: string, epoch: string, hostname = `${hostId}.local`) {
    const { token, record } = await createHostToken(tokens, hostId);
    const agent = await connectAgent(gw.url, token);
    agents.push(agent);
    agent.ws.on("message", (data) => {
      const f = JSON.parse(data.toString()) as { type: string; id?: string };
      if (f.type === "rpc")
        agent.send({ type: "rpcResult", id: f.id, result: { ok: true, data: { by: `${gw.gatewayId}/${epoch}` } } });
    });
    agent.send({ ...hello(hostId, epoch), hostname });
    const welcome = await agent.next((f) => f.type === "welcome");
    return { agent, welcome: welcome as Extract<typeof welcome, { type: "welcome" }>, tokenId: record.tokenId };
  }

  const lease = async (hostId: string) => leaseView(await leases.get(leaseKeys.host(hostId)));

  function lifecycleOf(hostId: string): HostLifecycle[] {
    const seen: HostLifecycle[] = [];
    const sub = observer.subscribe(subjects.hostLifecycle(hostId));
    void (async () => {
      for await (const m of sub) seen.push(HostLifecycle.parse(m.json()));
    })();
    return seen;
  }

  async function conflictNotices(hostId: string): Promise<FleetEvent[]> {
    const found: FleetEvent[] = [];
    for await (const m of readStream(bus.nc, STREAM_NAMES.fleet)) {
      if (m.subject !== subjects.fleet("host-conflict")) continue;
      const notice = FleetEvent.parse(JSON.parse(new TextDecoder().decode(m.data)));
      if (notice.hostId === hostId) found.push(notice);
    }
    return found;
  }

  /** What the policy service does: a request on codex.rpc.<hostId>; "no responders" is host_offline. */
  async function command(hostId: string, id: string): Promise<HostRpcResult> {
    const envelope = {
      id,
      hostId,
      request: { op: "interrupt", threadId: "thread-1" },
      timeoutMs: 2_000,
    };
    try {
      const reply = await bus.nc.request(subjects.hostRpc(hostId), JSON.stringify(envelope), { timeout: 4_000 });
      return HostRpcResult.parse(reply.json());
    } catch (err) {
      if (/no responders/i.test((err as Error).message))
        return { ok: false, code: "host_offline", message: "no responders", retryable: true };
      throw err;
    }
  }

  it("a newer connection of the same agent run takes over at once through the other gateway, with no notice and no disconnected", async () => {
    const seen = lifecycleOf("host-blip");
    await observer.flush();
    const first = await agentOn(gw1, "host-blip", "run-1");
    expect((await lease("host-blip"))?.record.holder).toBe("gw-1");
    const epoch1 = first.welcome.leaseEpoch!;
    expect(await metrics1.leaseHeld.get()).toMatchObject({
      values: [expect.objectContaining({ labels: { lease: "host.host-blip" }, value: 1 })],
    });

    // The network blipped: the agent dials the other gateway while its old socket still looks open on gw-1.
    const startedAt = Date.now();
    const second = await agentOn(gw2, "host-blip", "run-1");
    expect(second.welcome.leaseEpoch).toBeGreaterThan(epoch1);
    expect(await first.agent.closed).toEqual({ code: 1008, reason: "replaced by a newer connection of this agent" });
    // At once: gw-1 learns it through its follow of the bucket, not at its first renewal (TTL / 3 after it
    // took the lease, a moment before this takeover) nor at expiry.
    expect(Date.now() - startedAt).toBeLessThan(TTL / 4);
    const view = await lease("host-blip");
    expect(view).toMatchObject({ epoch: second.welcome.leaseEpoch, record: { holder: "gw-2" } });

    await new Promise((r) => setTimeout(r, 200));
    expect(seen.map((l) => [l.type, l.gatewayId, l.leaseEpoch])).toEqual([
      ["connected", "gw-1", epoch1],
      ["connected", "gw-2", second.welcome.leaseEpoch],
    ]);
    expect(await conflictNotices("host-blip")).toEqual([]);
    const held = (m: ServiceMetrics) =>
      m.leaseHeld.get().then((g) => g.values.find((v) => v.labels.lease === "host.host-blip")?.value);
    expect(await held(metrics1)).toBe(0);
    expect(await held(metrics2)).toBe(1);
  });

  it("a different agent run takes over: the displaced agent gets 4409 naming the holder and FLEET a high-priority host-conflict notice", async () => {
    const seen = lifecycleOf("host-twin");
    await observer.flush();
    const older = await agentOn(gw1, "host-twin", "run-old", "box-a.local");
    const newer = await agentOn(gw2, "host-twin", "run-new", "box-b.local");
    const closed = await older.agent.closed;
    expect(closed.code).toBe(4409);
    expect(closed.reason).toContain("box-b.local (run run-new) via gw-2");
    expect(newer.agent.ws.readyState).toBe(newer.agent.ws.OPEN);

    await until("the host-conflict notice is in FLEET", async () => (await conflictNotices("host-twin")).length > 0);
    const notices = await conflictNotices("host-twin");
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatchObject({
      kind: "host-conflict",
      priority: "high",
      hostId: "host-twin",
      sessionId: null,
      conflict: {
        // Both sides with where they came from and their token ids (read from the lease note on gw-1).
        holder: {
          agentEpoch: "run-new",
          hostname: "box-b.local",
          gatewayId: "gw-2",
          remoteAddress: "127.0.0.1",
          tokenId: newer.tokenId,
        },
        displaced: {
          agentEpoch: "run-old",
          hostname: "box-a.local",
          gatewayId: "gw-1",
          remoteAddress: "127.0.0.1",
          tokenId: older.tokenId,
        },
        leaseEpoch: newer.welcome.leaseEpoch,
        copiedToken: false,
        summary: expect.stringContaining(`two different tokens of this host id (${newer.tokenId}, ${older.tokenId})`),
      },
    });
    expect(notices[0]!.id).toBe(`fleet:host-conflict:host-twin:${newer.welcome.leaseEpoch}`);
    // The displaced connection never reports the host offline: the newer one holds it.
    expect(seen.map((l) => l.type)).toEqual(["connected", "connected"]);
  });

  it("on one gateway, too: a different run's newer connection displaces the older with 4409 and a notice", async () => {
    const older = await agentOn(gw1, "host-same-gw", "run-a", "a.local");
    const newer = await agentOn(gw1, "host-same-gw", "run-b", "b.local");
    expect((await older.agent.closed).code).toBe(4409);
    await until("the notice", async () => (await conflictNotices("host-same-gw")).length === 1);
    expect((await conflictNotices("host-same-gw"))[0]?.conflict?.holder.agentEpoch).toBe("run-b");
    expect(newer.agent.ws.readyState).toBe(newer.agent.ws.OPEN);
  });

  it("commands during a takeover: each is answered once by one gateway with a typed result, and afterwards only the holder gets them", async () => {
    const first = await agentOn(gw1, "host-cmd", "run-1");
    const rpcIds = (a: TestAgent) =>
      a.frames.flatMap((f) => (f.type === "rpc" ? [{ id: f.id, leaseEpoch: f.leaseEpoch }] : []));
    const results: { id: string; result: HostRpcResult }[] = [];
    let n = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        const id = `cmd-${n++}`;
        results.push({ id, result: await command("host-cmd", id) });
      }
    })();
    await until("a few commands through gw-1", () => results.length >= 5);
    const second = await agentOn(gw2, "host-cmd", "run-1");
    await first.agent.closed;
    const afterTakeover = n;
    await until("a few commands after the takeover", () => results.length >= afterTakeover + 5);
    running = false;
    await loop;

    // Every command got a typed result; none reached both agents.
    for (const r of results) expect(HostRpcResult.safeParse(r.result).success).toBe(true);
    const toFirst = new Set(rpcIds(first.agent).map((r) => r.id));
    const toSecond = new Set(rpcIds(second.agent).map((r) => r.id));
    expect([...toFirst].filter((id) => toSecond.has(id))).toEqual([]);
    // Each frame carried the sending connection's lease epoch.
    expect(rpcIds(first.agent).every((r) => r.leaseEpoch === first.welcome.leaseEpoch)).toBe(true);
    expect(rpcIds(second.agent).every((r) => r.leaseEpoch === second.welcome.leaseEpoch)).toBe(true);
    // After the takeover a command runs on the holder, or (on its way to gw-1 as it let go) is refused unsent.
    for (const r of results.slice(afterTakeover)) {
      if (r.result.ok) expect(r.result).toEqual({ ok: true, data: { by: "gw-2/run-1" } });
      else
        expect(r.result).toMatchObject({ code: "host_offline", message: expect.stringContaining("nothing was sent") });
    }
    expect(results.at(-1)?.result).toEqual({ ok: true, data: { by: "gw-2/run-1" } });
    for (const r of results.filter((x) => x.result.ok))
      expect(toFirst.has(r.id) || toSecond.has(r.id), `${r.id} ran somewhere`).toBe(true);
  });

  it("stores events from the holder and counts them (eventsIn)", async () => {
    const before = (await metrics2.eventsIn.get()).values[0]?.value ?? 0;
    const { agent } = await agentOn(gw2, "host-ev", "run-1");
    agent.send(eventFrame("host-ev", 0));
    agent.send(eventFrame("host-ev", 0)); // a replay: stored once, counted once
    const acked = () => agent.frames.flatMap((f) => (f.type === "acks" ? f.seqs : f.type === "ack" ? [f.seq] : []));
    await until("both acked", () => acked().length === 2);
    expect((await metrics2.eventsIn.get()).values[0]?.value).toBe(before + 1);
  });

  it("a lease taken by a holder that serves nothing (a crashed gateway): the connection here is closed and a command gets a typed host_offline", async () => {
    const { agent, welcome } = await agentOn(gw1, "host-ghost", "run-1", "real.local");
    const entry = await leases.get(leaseKeys.host("host-ghost"));
    const record = { holder: "gw-ghost", ttlMs: TTL, takenAtMs: Date.now(), note: "agent=run-9 hostname=ghost.local" };
    await leases.update(leaseKeys.host("host-ghost"), JSON.stringify(record), entry!.revision);
    const closed = await agent.closed;
    expect(closed.code).toBe(4409);
    expect(closed.reason).toContain("ghost.local (run run-9) via gw-ghost");
    const result = await command("host-ghost", "after-ghost");
    expect(result).toMatchObject({ ok: false, code: "host_offline", retryable: true });
    expect(agent.frames.some((f) => f.type === "rpc")).toBe(false);
    expect((await lease("host-ghost"))?.epoch).toBeGreaterThan(welcome.leaseEpoch!);
  });
});
