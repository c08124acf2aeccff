/**
 * "Same agent run" needs the run's secret, not only its run id (which every event carries): two gateways on a
 * real nats-server and the real host agent on the real codex app-server (fake model), dialling the first gateway
 * through a TCP proxy that can freeze (a network blip: nothing passes either way and neither side sees a close).
 * - The blip: the agent gives up on the silent connection and reconnects through the second gateway with its run
 *   id and secret; it takes the host over at once and the first gateway closes the stale connection with 1008,
 *   silently (no host-conflict notice).
 * - A scripted agent with the host's token (copied) that reuses the real run id without the secret takes the host
 *   over too, but as a different run: the real agent is told 4409 and stops, and FLEET gets a host-conflict notice
 *   naming both sides with their addresses and token id, which is the same, so it says the token was copied.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, connect as tcpConnect, type AddressInfo, type Server, type Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FleetEvent } from "../../schemas/fleet.js";
import { useBus } from "../../test/support/bus.js";
import { startCodexAppServer, type CodexAppServer } from "../../test/support/codex-harness.js";
import { startFakeModel, type FakeModel } from "../../test/support/fake-model.js";
import { until } from "../../test/support/wait.js";
import { LEASE_BUCKET, leaseKeys, leaseView, openKvBucket, readStream, STREAM_NAMES, subjects } from "../bus/index.js";
import { startHostAgent, type HostAgent } from "../host-agent/index.js";
import { startGateway, type Gateway } from "./server.js";
import { connectAgent, hello, type TestAgent } from "./test-agent.js";
import { createHostToken, openHostTokenBucket } from "./tokens.js";

const HOST = "host-secret";
// Long, so each takeover below is one (noticed through the bucket follow), never an expiry.
const TTL_MS = 20_000;

/** A TCP proxy to `port`; once frozen, nothing passes either way and no close is passed on. */
async function freezableProxy(port: number): Promise<{ url: string; freeze(): void; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = tcpConnect(port, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("error", () => undefined);
      s.on("close", () => sockets.delete(s));
    }
    client.on("data", (chunk) => void (frozen || upstream.write(chunk)));
    upstream.on("data", (chunk) => void (frozen || client.write(chunk)));
    client.on("close", () => void (frozen || upstream.destroy()));
    upstream.on("close", () => void (frozen || client.destroy()));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    freeze: () => void (frozen = true),
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("same agent run: the run id and the run's secret", () => {
  const bus = useBus({ ensure: true });
  let model: FakeModel;
  let codex: CodexAppServer;
  let tmp: string;
  const gateways: Gateway[] = [];
  const logs: Record<string, Record<string, unknown>[]> = { "gw-1": [], "gw-2": [] };
  let proxy: Awaited<ReturnType<typeof freezableProxy>>;
  let agent: HostAgent | undefined;
  let intruder: TestAgent | undefined;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(os.tmpdir(), "gateway-run-secret-"));
    model = await startFakeModel({ defaultReply: { kind: "text", text: "ok" } });
    codex = await startCodexAppServer({ model, listen: "unix" });
    for (const gatewayId of ["gw-1", "gw-2"] as const) {
      const logger = pino(
        { level: "debug" },
        { write: (line: string) => void logs[gatewayId]!.push(JSON.parse(line)) },
      );
      gateways.push(
        await startGateway({
          natsConnection: await bus.connect(),
          port: 0,
          gatewayId,
          logger,
          hostLeaseTtlMs: TTL_MS,
          // The frozen connection must still be open on gw-1 when the reconnect takes the host over.
          pingIntervalMs: 60_000,
        }),
      );
    }
    proxy = await freezableProxy(gateways[0]!.port);
  }, 60_000);

  afterAll(async () => {
    intruder?.ws.terminate();
    await agent?.stop();
    await proxy?.stop();
    for (const g of gateways) await g.stop();
    await codex?.stop();
    await model?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const lease = async () => leaseView(await (await openKvBucket(bus.nc, LEASE_BUCKET)).get(leaseKeys.host(HOST)));
  const closesOn = (gatewayId: string) =>
    logs[gatewayId]!.filter((l) => String(l.msg).startsWith("closing connection:")).map((l) => [l.code, l.msg]);
  async function conflictNotices(): Promise<FleetEvent[]> {
    const found: FleetEvent[] = [];
    for await (const m of readStream(bus.nc, STREAM_NAMES.fleet)) {
      if (m.subject !== subjects.fleet("host-conflict")) continue;
      const notice = FleetEvent.parse(JSON.parse(new TextDecoder().decode(m.data)));
      if (notice.hostId === HOST) found.push(notice);
    }
    return found;
  }

  it("a blip's reconnect with the secret is silent; the run id without it is a different run: 4409 and a notice naming a copied token", async () => {
    const [gw1, gw2] = gateways as [Gateway, Gateway];
    const minted = await createHostToken(await openHostTokenBucket(bus.nc), HOST);
    const tokenId = minted.record.tokenId;
    const real = await startHostAgent({
      hostId: HOST,
      gatewayUrl: [proxy.url, gw2.url],
      token: minted.token,
      stateDir: path.join(tmp, "state"),
      endpoint: codex.endpoint,
      hostname: "real-box",
      heartbeatMs: 300,
      backoff: { initialMs: 100, maxMs: 500 },
    });
    agent = real;
    const first = await until("the agent holds the host through gw-1", async () => {
      const view = await lease();
      return real.status().gateway === "ready" && view?.record.holder === "gw-1" && view;
    });
    // The lease names the run with its key (a hash, never the secret), the token id and where it came from.
    expect(first.record.note).toMatch(
      new RegExp(`^agent=${real.epoch} hostname=real-box key=[A-Za-z0-9_-]{22} token=${tokenId} from=127\\.0\\.0\\.1$`),
    );

    // The blip: the agent hears nothing, gives up on the connection and reconnects through gw-2.
    proxy.freeze();
    const second = await until("the agent holds the host through gw-2", async () => {
      const view = await lease();
      return real.status().gateway === "ready" && view?.record.holder === "gw-2" && view;
    });
    expect(second.epoch).toBeGreaterThan(first.epoch);
    expect(second.record.note).toBe(first.record.note);
    // gw-1 still had the stale connection: taken over, and closed as a reconnect of the same run.
    await until("gw-1 closed the stale connection", () => closesOn("gw-1").length > 0);
    expect(closesOn("gw-1")).toEqual([[1008, "closing connection: replaced by a newer connection of this agent"]]);
    expect(await conflictNotices()).toEqual([]);

    // Someone with a copy of the host's token says hello with the real run id (in every event), without the secret.
    intruder = await connectAgent(gw1.url, minted.token);
    intruder.send({ ...hello(HOST, real.epoch), hostname: "real-box" });
    const welcome = await intruder.next((f) => f.type === "welcome");
    expect(welcome).toMatchObject({ type: "welcome", leaseEpoch: expect.any(Number) });

    // A different run: the real agent is told who holds the host now and stops (it does not fight back).
    const reason = await Promise.race([
      real.displaced,
      new Promise<never>((_, reject) =>
        setTimeout(
          () => reject(new Error("the real agent was not displaced: the intruder's takeover was silent")),
          10_000,
        ),
      ),
    ]);
    expect(reason).toContain(`host ${HOST} is held by a newer agent on real-box (run ${real.epoch}) via gw-1`);
    expect(real.status().gateway).toBe("displaced");
    expect(closesOn("gw-2")).toEqual([[4409, expect.stringContaining("closing connection: host host-secret is held")]]);
    const third = await lease();
    expect(third).toMatchObject({ record: { holder: "gw-1" } });
    expect(third?.record.note).toBe(`agent=${real.epoch} hostname=real-box token=${tokenId} from=127.0.0.1`);

    await until("the host-conflict notice is in FLEET", async () => (await conflictNotices()).length > 0);
    const notices = await conflictNotices();
    expect(notices).toHaveLength(1);
    expect(notices[0]?.conflict).toEqual({
      holder: { agentEpoch: real.epoch, hostname: "real-box", gatewayId: "gw-1", remoteAddress: "127.0.0.1", tokenId },
      displaced: {
        agentEpoch: real.epoch,
        hostname: "real-box",
        gatewayId: "gw-2",
        remoteAddress: "127.0.0.1",
        tokenId,
      },
      leaseEpoch: third?.epoch,
      copiedToken: true,
      summary: expect.stringContaining(
        `Both used host token ${tokenId}: that token was copied to a second machine, or stolen.`,
      ),
    });
    expect(intruder.ws.readyState).toBe(intruder.ws.OPEN);
  }, 90_000);
});
