/**
 * Test support for the policy service (tests only): a real nats-server with the bus, the registry, a gateway,
 * a scripted host agent on that gateway that answers `rpc` frames, sessions made known through a fake host's
 * events, and the policy service itself. Commands go in as a caller sends them, on `codex.cmd.<verb>`.
 */
import { randomUUID } from "node:crypto";
import { expect } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { pino } from "pino";
import { Kvm } from "@nats-io/kv";
import { AuditRecord } from "../../schemas/audit.js";
import { CommandResult, type CallerRole, type CommandVerb } from "../../schemas/commands.js";
import type { HostRpcRequest, HostRpcResult } from "../../schemas/host-rpc.js";
import { ACTIVE_POLICY_KEY, type PolicyDocumentInput } from "../../schemas/policy.js";
import { KV_BUCKET_NAMES, STREAM_NAMES, subjects } from "../bus/index.js";
import { startRegistry } from "../registry/index.js";
import { FakeHost, type SyncOptions } from "../registry/test-fleet.js";
import { startBus, type TestBus } from "../../test/support/bus.js";
import { startGatewayRig, type GatewayRig } from "../../test/support/gateway.js";
import { useFixture } from "../../test/support/fixture.js";
import { eventually } from "../../test/support/wait.js";
import { connectAgent, hello, type TestAgent } from "../rpc-gateway/test-agent.js";
import { startPolicyService, type PolicyService, type PolicyServiceOptions } from "./service.js";

/** A host's answer to `read`: one completed turn `t1` with `messages` (and `items`, when given). */
export function oneTurnRead(messages: { role: string; text: string }[], items?: unknown[]): HostRpcResult {
  const turn = { id: "t1", status: "completed", startedAt: 1, completedAt: 2, messages };
  return { ok: true, data: { turns: [items === undefined ? turn : { ...turn, items }], nextCursor: null } };
}

/** A policy rig for every test of the enclosing suite (see {@link startPolicyRig}). */
export function usePolicyRig(): PolicyRig {
  return useFixture(() => startPolicyRig());
}

/** Answers one host op the way a host agent would. */
export type ScriptedHost = (request: HostRpcRequest) => HostRpcResult;

/** Everything a policy test drives. */
export interface PolicyRig {
  bus: TestBus;
  gateway: GatewayRig;
  /** The host `h1` as its events show it (sessions) ... */
  events: FakeHost;
  /** ... and as its agent answers commands (connected to the gateway). */
  agent: TestAgent;
  /** Every op the agent was asked to run, in order. */
  ops: HostRpcRequest[];
  /** How the agent answers; default: ok with `{}` (send: started). */
  answer: ScriptedHost;
  policy: PolicyService | undefined;
  /** More policy instances in the same queue group (`startAnotherPolicy`), each on a connection of its own. */
  instances: PolicyService[];
  /** Makes a session known to the registry (and waits until it is). */
  session(threadId: string, o?: SyncOptions): Promise<void>;
  /** Sends one command; resolves with the parsed reply. */
  command(
    verb: CommandVerb,
    args: unknown,
    o?: {
      role?: CallerRole;
      callerId?: string;
      key?: string;
      originSessionId?: string;
      hops?: number;
      /** A Claw's session lease epoch (Claw groups). */
      lease?: { epoch: number };
    },
  ): Promise<CommandResult>;
  setPolicy(doc: PolicyDocumentInput | string): Promise<number>;
  startPolicy(): Promise<PolicyService>;
  /**
   * Starts one more policy instance, with `instanceId`, on a NATS connection of its own (as another process
   * would be): it serves `codex.cmd.>` in the same queue group as `policy`. Stopped with the rig.
   */
  startAnotherPolicy(instanceId: string, o?: Pick<PolicyServiceOptions, "metrics">): Promise<PolicyService>;
  /** Every AUDIT record so far. */
  audit(): Promise<AuditRecord[]>;
  stop(): Promise<void>;
}

/** Starts the whole rig with host `h1` online and the policy service running. */
export async function startPolicyRig(): Promise<PolicyRig> {
  const bus = await startBus({ ensure: true });
  const registry = await startRegistry({ nc: bus.nc, sweepIntervalMs: 60_000 });
  const gateway = await startGatewayRig({ bus });
  const agent = await connectAgent(gateway.gateway.url, await gateway.token("h1"));
  agent.send(hello("h1"));
  await agent.next((f) => f.type === "welcome");
  const rig: PolicyRig = {
    bus,
    gateway,
    events: new FakeHost(bus, "h1"),
    agent,
    ops: [],
    answer: (req) => ({ ok: true, data: req.op === "send" ? { action: "started", turnId: "turn-1" } : {} }),
    policy: undefined,
    instances: [],
    async session(threadId, o) {
      await rig.events.synced(threadId, o);
      await eventually(async () => {
        const r = await bus.nc.request(subjects.registrySessionsGet(), JSON.stringify({ sessionId: threadId }), {
          timeout: 2_000,
        });
        expect((r.json() as { session: unknown }).session).not.toBeNull();
      });
    },
    async command(verb, args, o = {}) {
      const body = {
        verb,
        caller: { id: o.callerId ?? "alice", role: o.role ?? "operator" },
        idempotencyKey: o.key ?? randomUUID(),
        ...(o.originSessionId ? { originSessionId: o.originSessionId } : {}),
        ...(o.hops === undefined ? {} : { hops: o.hops }),
        ...(o.lease === undefined ? {} : { lease: o.lease }),
        args,
      };
      const msg = await bus.nc.request(subjects.command(verb), JSON.stringify(body), { timeout: 10_000 });
      return CommandResult.parse(msg.json());
    },
    async setPolicy(doc) {
      const kv = await new Kvm(bus.nc).open(KV_BUCKET_NAMES.policy);
      const revision = await kv.put(ACTIVE_POLICY_KEY, typeof doc === "string" ? doc : JSON.stringify(doc));
      if (typeof doc !== "string")
        for (const p of [rig.policy, ...rig.instances])
          await eventually(() => expect(p?.policyRevision()).toBe(revision));
      return revision;
    },
    async startPolicy() {
      rig.policy = await startPolicyService({
        nc: bus.nc,
        registryTimeoutMs: 2_000,
        logger: pino({ level: "silent" }),
      });
      return rig.policy;
    },
    async startAnotherPolicy(instanceId, o = {}) {
      const nc = await bus.connect({ name: instanceId });
      const p = await startPolicyService({
        ...o,
        nc,
        instanceId,
        registryTimeoutMs: 2_000,
        logger: pino({ level: "silent" }),
      });
      rig.instances.push(p);
      return p;
    },
    async audit() {
      const jsm = await jetstreamManager(bus.nc);
      const last = (await jsm.streams.info(STREAM_NAMES.audit)).state.last_seq;
      const out: AuditRecord[] = [];
      for (let seq = 1; seq <= last; seq++) {
        const m = await jsm.streams.getMessage(STREAM_NAMES.audit, { seq });
        if (m) out.push(AuditRecord.parse(m.json()));
      }
      return out;
    },
    async stop() {
      agent.ws.terminate();
      await rig.policy?.stop();
      for (const p of rig.instances.splice(0)) await p.stop();
      await gateway.stop();
      await registry.stop();
      await bus.stop();
    },
  };
  agent.ws.on("message", (data) => {
    const frame = JSON.parse(data.toString()) as { type: string; id: string; request: HostRpcRequest };
    if (frame.type !== "rpc") return;
    rig.ops.push(frame.request);
    agent.send({ type: "rpcResult", id: frame.id, result: rig.answer(frame.request) });
  });
  await rig.startPolicy();
  return rig;
}
