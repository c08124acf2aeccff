/**
 * The gateway's HTTP timeouts: a client that never finishes its headers (or sends nothing) is cut off within
 * the configured time, while a real host agent on the same gateway, connected longer than any of those
 * timeouts, keeps its WebSocket: a command still reaches it and its events still arrive.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { HostLifecycle } from "../../schemas/gateway.js";
import { HostRpcResult } from "../../schemas/host-rpc.js";
import { useGateway } from "../../test/support/gateway.js";
import { silentClient, slowHeaderClient } from "../../test/support/slow-client.js";
import { until } from "../../test/support/wait.js";
import { STREAM_NAMES, subjects } from "../bus/index.js";
import { startHostAgent, type HostAgent } from "../host-agent/index.js";
import { GatewayError } from "./errors.js";
import { startGateway } from "./server.js";

const HEADERS_TIMEOUT_MS = 1_000;
const REQUEST_TIMEOUT_MS = 2_000;
const HOST = "host-timeouts";
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("rpc-gateway HTTP timeouts", () => {
  const fx = useGateway({ headersTimeoutMs: HEADERS_TIMEOUT_MS, requestTimeoutMs: REQUEST_TIMEOUT_MS });
  const tmp = mkdtempSync(path.join(tmpdir(), "gateway-timeouts-"));
  let agent: HostAgent | undefined;
  afterAll(async () => {
    await agent?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it("cuts off a slow-header client and a silent one, while a real host agent keeps working", async () => {
    const lifecycle: HostLifecycle[] = [];
    const sub = fx.nc.subscribe(subjects.hostLifecycle(HOST), {
      callback: (_err, msg) => void lifecycle.push(HostLifecycle.parse(msg.json())),
    });
    agent = await startHostAgent({
      hostId: HOST,
      gatewayUrl: fx.gateway.url,
      token: await fx.token(HOST),
      stateDir: path.join(tmp, "state"),
      // No app-server: the agent still holds its gateway connection, heartbeats and records annotations.
      endpoint: `unix://${path.join(tmp, "no-app-server.sock")}`,
      heartbeatMs: 200,
      logger: pino({ level: "silent" }),
    });
    await until("the agent's gateway connection", () => agent!.status().gateway === "ready", 10_000);
    const connectedAt = Date.now();

    const { port } = fx.gateway;
    const [slow, silent] = await Promise.all([
      slowHeaderClient("127.0.0.1", port, 100),
      silentClient("127.0.0.1", port),
    ]);
    // Configured 1 s; the bound is generous so a loaded machine does not fail it.
    expect(slow.heldMs).toBeLessThan(10_000);
    expect(slow.reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(silent.heldMs).toBeLessThan(10_000);
    expect(silent.reply).toMatch(/^HTTP\/1\.1 408 /);

    // The agent's socket is now older than both timeouts and several checks: it must not have been touched.
    await sleep(Math.max(0, connectedAt + REQUEST_TIMEOUT_MS + 1_500 - Date.now()));
    expect(agent.status().gateway).toBe("ready");
    const envelope = {
      id: "timeouts-annotate-1",
      hostId: HOST,
      timeoutMs: 5_000,
      request: {
        op: "annotate",
        threadId: "t-timeouts",
        annotation: { kind: "assign", group: "survivors", owner: null },
      },
    };
    const reply = await fx.nc.request(subjects.hostRpc(HOST), JSON.stringify(envelope), { timeout: 5_000 });
    expect(HostRpcResult.parse(reply.json())).toEqual({ ok: true, data: { recorded: true } });
    const stored = await until(
      "the annotation in CODEX_EVENTS",
      async () => {
        const jsm = await jetstreamManager(fx.nc);
        const msg = await jsm.streams.getMessage(STREAM_NAMES.events, {
          last_by_subj: subjects.sessionEvents(HOST, "t-timeouts"),
        });
        return msg?.json<{ type: string; payload: unknown }>();
      },
      10_000,
    );
    expect(stored).toMatchObject({ type: "agent/annotation", payload: { kind: "assign", group: "survivors" } });

    // One connection all along: never dropped, never replaced.
    sub.unsubscribe();
    expect(lifecycle.filter((l) => l.type === "connected")).toHaveLength(1);
    expect(lifecycle.filter((l) => l.type === "disconnected")).toHaveLength(0);
  });

  it("refuses timeouts that are not positive, or a header timeout beyond the request timeout", async () => {
    const silent = pino({ level: "silent" });
    const bad = await startGateway({ natsConnection: fx.nc, port: 0, logger: silent, headersTimeoutMs: 0 }).catch(
      (e: unknown) => e,
    );
    expect(bad).toBeInstanceOf(GatewayError);
    expect((bad as GatewayError).message).toContain("headersTimeoutMs:");
    await expect(
      startGateway({
        natsConnection: fx.nc,
        port: 0,
        logger: silent,
        headersTimeoutMs: 5_000,
        requestTimeoutMs: 1_000,
      }),
    ).rejects.toThrow("invalid gateway options: headersTimeoutMs: must not exceed requestTimeoutMs");
  });
});
