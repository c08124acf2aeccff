/**
 * The gateway fixture: a bus, the rpc-gateway on a free loopback port with its logs captured, host tokens on
 * demand, and scripted host agents (`agentFor`) that say hello and are welcomed. `useGateway` drops the agents
 * after each test and stops the rest after the suite.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { afterEach } from "vitest";
import { ensureBus } from "../../services/bus/index.js";
import { startGateway, type Gateway, type GatewayOptions } from "../../services/rpc-gateway/server.js";
import { connectAgent, hello, type TestAgent } from "../../services/rpc-gateway/test-agent.js";
import { createHostToken, openHostTokenBucket } from "../../services/rpc-gateway/tokens.js";
import { startBus, type TestBus } from "./bus.js";
import { useFixture } from "./fixture.js";

/** A bus, a gateway, its logs, and the agents connected to it. */
export interface GatewayRig {
  bus: TestBus;
  /** The gateway's NATS connection. */
  nc: NatsConnection;
  /** The host token bucket. */
  kv: KV;
  gateway: Gateway;
  /** Every log record the gateway wrote, parsed. */
  logs: Record<string, unknown>[];
  /** Agents to terminate after the test: `agentFor` adds its own; a test may add others. */
  agents: TestAgent[];
  /** A new host token for `hostId`. */
  token(hostId: string): Promise<string>;
  /** Connects a scripted agent for `hostId` with a fresh token, says hello and waits for the welcome. */
  agentFor(hostId: string, opts?: { autoPong?: boolean; url?: string }): Promise<TestAgent>;
  /** Terminates every agent in `agents`. */
  dropAgents(): void;
  /** Stops the gateway and its connection, and the bus when the rig started it. */
  stop(): Promise<void>;
}

/** Options of the gateway fixture. */
export interface GatewayRigOptions {
  /** Options of the gateway itself (limits, intervals). */
  gateway?: Partial<GatewayOptions>;
  /** A bus to run on (kept running on stop); default: a new one. */
  bus?: TestBus;
}

/** Starts the gateway fixture; see the module comment. */
export async function startGatewayRig(opts: GatewayRigOptions = {}): Promise<GatewayRig> {
  const bus = opts.bus ?? (await startBus());
  const nc = await bus.connect();
  await ensureBus(nc);
  const kv = await openHostTokenBucket(nc);
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const gateway = await startGateway({ natsConnection: nc, host: "127.0.0.1", port: 0, logger, ...opts.gateway });
  const agents: TestAgent[] = [];
  const rig: GatewayRig = {
    bus,
    nc,
    kv,
    gateway,
    logs,
    agents,
    token: async (hostId) => (await createHostToken(kv, hostId)).token,
    async agentFor(hostId, o = {}) {
      const agent = await connectAgent(o.url ?? gateway.url, await rig.token(hostId), o);
      agents.push(agent);
      agent.send(hello(hostId));
      await agent.next((f) => f.type === "welcome");
      return agent;
    },
    dropAgents() {
      for (const a of agents.splice(0)) a.ws.terminate();
    },
    async stop() {
      rig.dropAgents();
      await gateway.stop();
      await nc.close();
      if (!opts.bus) await bus.stop();
    },
  };
  return rig;
}

/** A gateway for every test of the enclosing suite; each test's agents are terminated after it. */
export function useGateway(gatewayOptions: Partial<GatewayOptions> = {}): GatewayRig {
  const rig = useFixture(() => startGatewayRig({ gateway: gatewayOptions }));
  afterEach(() => rig.dropAgents());
  return rig;
}
