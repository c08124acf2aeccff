/**
 * The control benchmark's rig, started the way test/e2e/control.test.ts starts it: nats-server (its own process),
 * the gateway, the registry, the policy service (with rate limits that leave room for the benchmark; several
 * instances in queue group "policy", sharing their rate limits through KV codex-policy-state) and a host agent on
 * a real codex app-server (unix socket) whose model is the fake model in a process of its own; the services in
 * this process (topology `single`) or each in its own (`processes`). Plus the direct client on the same
 * app-server socket, the caller's own NATS connection, and the baseline's two bus round trips on it: a JetStream
 * publish to AUDIT and its ack, and a core NATS request to a trivial responder on the services' connection.
 */
import { fork } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { ACTIVE_POLICY_KEY, DEFAULT_POLICY } from "../schemas/policy.js";
import {
  busRequest,
  connectBus,
  ensureBus,
  JetStreamPublisher,
  KV_BUCKET_NAMES,
  openKvBucket,
  subjects,
} from "../services/bus/index.js";
import { listHosts } from "../services/clients/registry-queries.js";
import { type CodexRpcClient, connectCodex, parseEndpoint } from "../services/codex-rpc/index.js";
import { type HostAgent, startHostAgent } from "../services/host-agent/index.js";
import { type PolicyService, startPolicyService } from "../services/policy/index.js";
import { type Registry, startRegistry } from "../services/registry/index.js";
import { createHostToken, type Gateway, openHostTokenBucket, startGateway } from "../services/rpc-gateway/index.js";
import { type CodexAppServer, startCodexAppServer } from "../test/support/codex-harness.js";
import { SLOW } from "../test/support/fake-model.js";
import { type NatsTestServer, startNatsServer } from "../test/support/nats-server.js";
import { type ServiceProcess, startCli, startService, stopService } from "./service-process.js";

/** The host id of the benchmark's host agent. */
export const HOST = "bench-host";
/** A prompt containing this gets a slow streamed answer from the fake model (the tests' own marker). */
export { SLOW };
const WAIT_MS = 15_000;
/** The trivial responder's subject: it answers every request with the request's own bytes. */
const ECHO_SUBJECT = "bench.baseline.echo";
/** What the baseline sends: about the size of a command request and of an audit record. */
const BASELINE_PAYLOAD = JSON.stringify({ bench: "control-baseline", pad: "x".repeat(300) });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ModelProcess {
  baseUrl: string;
  stop(): Promise<void>;
}

/** The fake model in its own process (bench/model-process.ts), stopped by its pid. */
async function startModelProcess(): Promise<ModelProcess> {
  const child = fork(fileURLToPath(new URL("./model-process.js", import.meta.url)), [SLOW], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  const { baseUrl } = await new Promise<{ baseUrl: string }>((resolve, reject) => {
    child.once("message", (m) => resolve(m as { baseUrl: string }));
    child.once("exit", (code) => reject(new Error(`the fake model process exited with ${code}`)));
  });
  return {
    baseUrl,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/** Polls `probe` until it gives a value (neither undefined nor false), for at most 15 s. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  pollMs = 5,
): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await Promise.resolve(probe()).catch(() => undefined);
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
}

/** Turn lifecycle as the direct client sees it (it started the thread, so it gets its turn events). */
export function watchTurns(client: CodexRpcClient) {
  const started = new Set<string>();
  const completed = new Map<string, string>();
  const streaming = new Set<string>();
  client.on("item/started", (p) => void (p.item.type === "agentMessage" && streaming.add(p.turnId)));
  client.on("turn/started", (p) => void started.add(p.turn.id));
  client.on("turn/completed", (p) => void completed.set(p.turn.id, p.turn.status));
  return {
    started: (turnId: string) => until(`turn ${turnId} started`, () => started.has(turnId) || completed.has(turnId)),
    /** Resolves once the turn's agent message has started (the model is streaming its answer). */
    streaming: (turnId: string) =>
      until(`turn ${turnId} streaming`, () => streaming.has(turnId) || completed.has(turnId), 1),
    completed: (turnId: string) => until(`turn ${turnId} completed`, () => completed.get(turnId)),
  };
}

/** What the benchmark drives once the rig is up. */
export interface StartedRig {
  /** The direct client, initialized. */
  client: CodexRpcClient;
  /** Turn lifecycle as the direct client sees it. */
  turns: ReturnType<typeof watchTurns>;
  /** The caller's own NATS connection (commands and registry look-ups). */
  caller: NatsConnection;
  /** The app-server's workspace folder. */
  workspace: string;
  /** The baseline's round trips, each from the caller's connection and resolving when answered. */
  baseline: {
    /** A JetStream publish to AUDIT (pipelined, as the policy service writes it), until its ack. */
    jsPublishAck(): Promise<unknown>;
    /** A core NATS request to a responder on the same nats-server that answers at once. */
    request(): Promise<unknown>;
  };
}

/** Starts with `start`; `stop` stops whatever has started, also after a failed start. */
export class ControlRig {
  private nats: NatsTestServer | undefined;
  private nc: NatsConnection | undefined;
  private callerNc: NatsConnection | undefined;
  private gateway: Gateway | undefined;
  private registry: Registry | undefined;
  private readonly policies: PolicyService[] = [];
  private readonly extraConnections: NatsConnection[] = [];
  private baselinePublisher: JetStreamPublisher | undefined;
  private readonly processes: ServiceProcess[] = [];
  private model: ModelProcess | undefined;
  private server: CodexAppServer | undefined;
  private agent: HostAgent | undefined;
  private client: CodexRpcClient | undefined;
  private stateDir: string | undefined;

  /**
   * Starts every part for `topology` (`single`: the services in this process; anything else: `processes`), with
   * `policyInstances` policy services, and waits until the host is online in the registry.
   */
  async start(topology: string, policyInstances = 1): Promise<StartedRig> {
    const quiet = pino({ level: "silent" });
    const nats = (this.nats = await startNatsServer());
    // Connected the way the services and the CLI connect (connectBus: no async stack traces per request).
    const nc = (this.nc = await connectBus({ servers: nats.url, name: "bench-services" }));
    await ensureBus(nc);
    // The default policy's rate limits (10/s per caller, 2/s per target) would make the run mostly waiting;
    // the buckets are still taken on every command, only with room for the benchmark's rate.
    const policyKv = await openKvBucket(nc, KV_BUCKET_NAMES.policy);
    await policyKv.put(
      ACTIVE_POLICY_KEY,
      JSON.stringify({
        ...DEFAULT_POLICY,
        rateLimits: {
          perCaller: { burst: 100_000, perSecond: 100_000 },
          perTarget: { burst: 100_000, perSecond: 100_000 },
        },
      }),
    );
    let gatewayUrl: string;
    if (topology === "single") {
      const gateway = (this.gateway = await startGateway({ natsConnection: nc, port: 0, logger: quiet }));
      gatewayUrl = gateway.url;
      this.registry = await startRegistry({ nc });
      for (let i = 0; i < policyInstances; i++) {
        // The first shares the services' connection (as in `up`); each other one has its own, as another process.
        const policyNc = i === 0 ? nc : await connectBus({ servers: nats.url, name: `bench-policy-${i}` });
        if (i > 0) this.extraConnections.push(policyNc);
        const policy = await startPolicyService({ nc: policyNc, logger: quiet, instanceId: `bench-policy-${i}` });
        this.policies.push(policy);
        await until("the benchmark policy applied", () => policy.policyRevision() !== null);
      }
    } else {
      // The policy document is in KV before the policy process starts, so it is in force from its first command.
      const gw = await startService("rpc-gateway", nats.url, ["--port", "0"]);
      this.processes.push(gw);
      gatewayUrl = String(gw.ready.url);
      this.processes.push(await startService("registry", nats.url));
      for (let i = 0; i < policyInstances; i++) this.processes.push(await startService("policy", nats.url));
    }
    const model = (this.model = await startModelProcess());
    const server = (this.server = await startCodexAppServer({ model, listen: "unix" }));
    const stateDir = (this.stateDir = await mkdtemp(path.join(os.tmpdir(), "bench-control-")));
    const minted = await createHostToken(await openHostTokenBucket(nc, { create: true }), HOST);
    if (topology === "single") {
      this.agent = await startHostAgent({
        hostId: HOST,
        gatewayUrl,
        token: minted.token,
        stateDir,
        endpoint: server.endpoint,
        logger: quiet,
      });
    } else {
      const tokenFile = path.join(stateDir, "host-token");
      await writeFile(tokenFile, minted.token, { mode: 0o600 });
      this.processes.push(
        await startCli("host-agent", [
          "host-agent",
          "--gateway",
          gatewayUrl,
          "--token-file",
          tokenFile,
          "--endpoint",
          server.endpoint,
          "--host-id",
          HOST,
          "--state-dir",
          stateDir,
          "--json",
        ]),
      );
    }
    const client = (this.client = await connectCodex(parseEndpoint(server.endpoint)));
    await client.initialize({
      clientInfo: { name: "bench-direct", version: "0" },
      optOutNotificationMethods: ["item/agentMessage/delta"],
    });
    const turns = watchTurns(client);
    const caller = (this.callerNc = await connectBus({ servers: nats.url, name: "bench-caller" }));
    await until("the host online", async () =>
      (await listHosts(caller)).find((h) => h.hostId === HOST && h.status === "online"),
    );
    // The baseline's responder lives on the services' connection, so its request crosses nats-server as a
    // command does; the publisher is the pipelined one the services write with.
    nc.subscribe(ECHO_SUBJECT, { callback: (err, m) => void (err || m.respond(m.data)) });
    await nc.flush();
    const publisher = (this.baselinePublisher = new JetStreamPublisher(caller));
    const baseline = {
      jsPublishAck: () => publisher.publish(subjects.audit("bench-baseline"), BASELINE_PAYLOAD),
      request: () => busRequest(caller, ECHO_SUBJECT, BASELINE_PAYLOAD, { timeout: 5_000 }),
    };
    return { client, turns, caller, workspace: server.workspace, baseline };
  }

  /** Stops every part that started, the direct client first and nats-server last. */
  async stop(): Promise<void> {
    this.client?.close();
    await this.agent?.stop();
    for (const p of this.processes.reverse()) await stopService(p);
    for (const p of this.policies.reverse()) await p.stop();
    this.baselinePublisher?.close("the benchmark stopped");
    for (const c of this.extraConnections) await c.close();
    await this.registry?.stop();
    await this.gateway?.stop();
    await this.server?.stop();
    await this.model?.stop();
    await this.callerNc?.close();
    await this.nc?.close();
    await this.nats?.stop();
    if (this.stateDir) await rm(this.stateDir, { recursive: true, force: true });
  }
}
