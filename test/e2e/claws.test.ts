/**
 * Several Claws (issue 18), every part real: `claw-supervisor up` (the built bin, its own nats-server with the
 * per-user permissions), a real Codex app-server with 20 threads, one Claw inside a real OpenClaw gateway (the
 * plugin installed with `plugins install --link`, connect mode, the `claw` bus user) and two more as the same
 * plugin service in this process. Two Claws of group `crew` share the sessions; group `leads` (one Claw) is its
 * parent and the root, so past it is people.
 *
 * Counting notices: the FLEET stream is the ground truth. Each round of handoffs gives every session one
 * high-priority notice whose note names the round and the session, so the system events each Claw got can be
 * matched to them: the OpenClaw gateway's queued system events for its Claw, the captured ones for the others.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClawsResult } from "../../schemas/claw-groups.js";
import { FleetEvent } from "../../schemas/fleet.js";
import { DEFAULT_POLICY, type PolicyDocumentInput } from "../../schemas/policy.js";
import { connectBus, readStream, STREAM_NAMES } from "../../services/bus/index.js";
import { FleetService, type SystemEventSink } from "../../services/claw/fleet-service.js";
import { parsePluginConfig } from "../../services/claw/config.js";
import { clawCaller } from "../../services/claw/claw-caller.js";
import { readBusLogin, type BusLogin } from "../../services/clients/bus-credentials.js";
import { type CommandEnvelopeOut, requestCommand } from "../../services/clients/command-request.js";
import { connectCodex, daemonSocketPath, parseEndpoint, type CodexRpcClient } from "../../services/codex-rpc/index.js";
import { spawnCli, type CliProcess } from "../support/cli-process.js";
import { startCodexAppServer, type CodexAppServer } from "../support/codex-harness.js";
import { startFakeModel, type FakeModel } from "../support/fake-model.js";
import {
  installClawPlugin,
  openClawHome,
  startOpenClawGateway,
  type OpenClawGateway,
  type OpenClawHome,
} from "../support/openclaw.js";
import { untilWith } from "../support/wait.js";

const HOST = "claws-e2e-host";
const SESSIONS = 20;
const TTL_MS = 4_000;
const until = untilWith({ timeoutMs: 60_000, stepMs: 250 });

let model: FakeModel;
let server: CodexAppServer;
let env: Record<string, string>;
let up: CliProcess;
let report: { nats: { url: string; pid: number }; stateDir: string };
let client: CodexRpcClient;
let operator: NatsConnection;
let oc: OpenClawHome | undefined;
let gateway: OpenClawGateway | undefined;
const threads: string[] = [];
const services: FleetService[] = [];
const capturedEvents = new Map<string, { text: string; contextKey?: string }[]>();

async function cli(...args: string[]) {
  const p = spawnCli(args, env);
  const code = await p.exited;
  return { code, stdout: p.stdout(), stderr: p.stderr() };
}

const login = (user: "operator" | "claw"): BusLogin => {
  const l = readBusLogin(report.stateDir, user);
  if (!l) throw new Error(`up wrote no ${user} credentials`);
  return l;
};

/** A plugin service in this process, its system events captured. */
async function inProcessClaw(clawId: string) {
  const events: { text: string; contextKey?: string }[] = [];
  capturedEvents.set(clawId, events);
  const sink: SystemEventSink = {
    enqueueSystemEvent: (text, o) => {
      events.push({ text, contextKey: o.contextKey });
      return true;
    },
    requestHeartbeat: () => undefined,
  };
  const config = parsePluginConfig({
    natsUrl: report.nats.url,
    natsCredentialsFile: path.join(report.stateDir, "credentials", "claw.json"),
    clawId,
    coalesceMs: 0,
  });
  const log = { info: () => undefined, warn: () => undefined, error: () => undefined };
  const svc = new FleetService(config, () => sink, log);
  services.push(svc);
  await svc.start(path.join(server.home, `openclaw-${clawId}`));
  const caller = clawCaller(
    () => svc.connection(),
    clawId,
    20_000,
    () => svc.leases(),
  );
  return { svc, events, caller };
}

/** The `claws` answer, as an operator asks it. */
async function claws(): Promise<ClawsResult> {
  const r = await cli("claws", "--json");
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout).data as ClawsResult;
}

/** A command as an operator (or as `caller`) straight on the bus. */
async function command(verb: CommandEnvelopeOut["verb"], args: unknown, over: Partial<CommandEnvelopeOut> = {}) {
  const answer = await requestCommand(
    operator,
    {
      verb,
      caller: { id: "e2e-operator", role: "operator" },
      idempotencyKey: `e2e-${verb}-${Math.random().toString(36).slice(2)}`,
      args,
      ...over,
    } as CommandEnvelopeOut,
    20_000,
  );
  if (!answer.ok) throw new Error(`${verb}: no answer (${answer.reason})`);
  return answer.result;
}

/** Every FLEET notice about our sessions so far. */
async function fleetNotices(): Promise<FleetEvent[]> {
  const out: FleetEvent[] = [];
  const ours = new Set(threads);
  for await (const m of readStream(operator, STREAM_NAMES.fleet)) {
    const parsed = FleetEvent.safeParse(JSON.parse(new TextDecoder().decode(m.data)));
    if (parsed.success && parsed.data.sessionId !== null && ours.has(parsed.data.sessionId)) out.push(parsed.data);
  }
  return out;
}

const policyWith = (clawGroups: PolicyDocumentInput["clawGroups"]): PolicyDocumentInput => ({
  ...DEFAULT_POLICY,
  clawGroups,
});

/** The default rules with groups `crew` (Claws oc and tb, every session) and its parent `leads` (Claw lead). */
const groupsEscalatingAfter = (escalateAfterMs: number): PolicyDocumentInput =>
  policyWith({
    groups: [
      { name: "crew", claws: ["oc", "tb"], owns: [{}], parent: "leads" },
      { name: "leads", claws: ["lead"], owns: [], parent: null },
    ],
    leaseTtlMs: TTL_MS,
    escalateAfterMs,
  });

async function setPolicy(doc: PolicyDocumentInput): Promise<void> {
  const file = path.join(server.home, `policy-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(doc));
  const r = await cli("policy", "set", file);
  expect(r.code, r.stderr).toBe(0);
}

const handoffNote = (round: string, sessionId: string) => `${round} ${sessionId}`;

async function handoffRound(round: string): Promise<void> {
  await Promise.all(
    threads.map(async (sessionId) => {
      const r = await command("handoff", {
        target: { sessionId, hostId: HOST },
        to: { kind: "human", who: "e2e" },
        note: handoffNote(round, sessionId),
      });
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }),
  );
}

beforeAll(async () => {
  model = await startFakeModel();
  server = await startCodexAppServer({ model, listen: "unix" });
  env = { ...server.env, CLAW_SUPERVISOR_STATE_DIR: path.join(server.home, ".local", "state", "claw-supervisor") };
  const daemonSocket = daemonSocketPath(env);
  mkdirSync(path.dirname(daemonSocket), { recursive: true });
  symlinkSync(server.socketPath!, daemonSocket);
  up = spawnCli(
    ["up", "--json", "--gateway-port", "0", "--mcp-port", "0", "--dashboard-port", "0", "--host-id", HOST],
    env,
  );
  report = JSON.parse(await up.waitForLine((l) => l.startsWith("{"), 60_000));
  const op = login("operator");
  operator = await connectBus({ servers: report.nats.url, user: op.user, pass: op.pass, name: "claws-e2e" });
  await setPolicy(groupsEscalatingAfter(600_000));
  client = await connectCodex(parseEndpoint(server.endpoint));
  await client.initialize({ clientInfo: { name: "claws-e2e", version: "0" } });
  for (let i = 0; i < SESSIONS; i++) {
    const { thread } = await client.request("thread/start", { cwd: server.workspace });
    threads.push(thread.id);
  }
  await until("the registry lists the 20 sessions", async () => {
    const r = await cli("sessions", "--host", HOST, "--json");
    const listed = JSON.parse(r.stdout).data.sessions as { sessionId: string }[];
    return threads.every((t) => listed.some((s) => s.sessionId === t)) || undefined;
  });
}, 180_000);

afterAll(async () => {
  for (const s of services) await s.stop().catch(() => undefined);
  await gateway?.stop();
  client?.close();
  await operator?.close();
  if (up && up.child.exitCode === null) {
    up.child.kill("SIGINT");
    await up.exited;
  }
  await server?.stop();
  await model?.stop();
  oc?.remove();
});

describe("two Claws of one group, one in a real OpenClaw gateway", () => {
  let tb: Awaited<ReturnType<typeof inProcessClaw>>;
  let before: ClawsResult;

  /** The OpenClaw Claw's queued system events. */
  const ocEvents = async (): Promise<string[]> =>
    ((await gateway!.call("status")).queuedSystemEvents ?? []) as string[];

  it("share the 20 sessions, none owned by both, and each Claw gets only its own sessions' notices", async () => {
    oc = openClawHome();
    const installed = await installClawPlugin(oc, {
      natsUrl: report.nats.url,
      natsCredentialsFile: path.join(report.stateDir, "credentials", "claw.json"),
      clawId: "oc",
      coalesceMs: 0,
    });
    expect(installed.code, installed.stdout + installed.stderr).toBe(0);
    gateway = await startOpenClawGateway(oc, 150_000);
    tb = await inProcessClaw("tb");
    before = await until(
      "the 20 sessions owned, by both Claws",
      async () => {
        const c = await claws();
        const ours = c.sessions.filter((s) => threads.includes(s.sessionId));
        const by = new Set(ours.map((s) => s.clawId));
        return ours.length === SESSIONS && by.has("oc") && by.has("tb") ? c : undefined;
      },
      120_000,
    );
    const owners = new Map(before.sessions.map((s) => [s.sessionId, s.clawId]));
    // One lease per session by construction; each Claw's own view agrees with the bucket.
    await until("both Claws' own counts add up to the 20", async () => {
      const ocStatus = await gateway!.call("clawSupervisor.status");
      return ocStatus.ownership.sessionsOwned + tb.svc.status().ownership!.sessionsOwned === SESSIONS || undefined;
    });
    for (const [sessionId, epoch] of tb.svc.ownershipManager()!.owned()) {
      expect(owners.get(sessionId)).toBe("tb");
      expect(before.sessions.find((s) => s.sessionId === sessionId)?.epoch).toBe(epoch);
    }

    await handoffRound("r1");
    await until("each Claw got the round-1 notice of each of its sessions", async () => {
      const oce = await ocEvents();
      return (
        threads.every((t) => {
          const note = handoffNote("r1", t);
          const atOc = oce.some((e) => e.includes(note));
          const atTb = tb.events.some((e) => e.text.includes(note));
          return owners.get(t) === "oc" ? atOc : atTb;
        }) || undefined
      );
    });
    // And never another Claw's.
    const oce = await ocEvents();
    for (const t of threads) {
      const note = handoffNote("r1", t);
      if (owners.get(t) === "oc")
        expect(
          tb.events.some((e) => e.text.includes(note)),
          t,
        ).toBe(false);
      else
        expect(
          oce.some((e) => e.includes(note)),
          t,
        ).toBe(false);
    }
  }, 360_000);

  it("killing one moves its sessions to the other within the lease TTL, each adopted, no notice lost", async () => {
    const ocSessions = before.sessions.filter((s) => s.clawId === "oc" && threads.includes(s.sessionId));
    const tbSessions = before.sessions.filter((s) => s.clawId === "tb" && threads.includes(s.sessionId));
    const killedAt = Date.now();
    gateway!.child.kill("SIGKILL");
    await gateway!.stop();
    // Notices published while the dead Claw still holds the leases: the adopting Claw must get them.
    await handoffRound("r2");
    const after = await until(
      "every session owned by tb",
      async () => {
        const c = await claws();
        const ours = c.sessions.filter((s) => threads.includes(s.sessionId));
        return ours.length === SESSIONS && ours.every((s) => s.clawId === "tb") ? c : undefined;
      },
      60_000,
    );
    const movedMs = Date.now() - killedAt;
    console.info(
      `claws e2e: oc's ${before.sessions.filter((s) => s.clawId === "oc").length} sessions all with tb ${movedMs} ms after the kill (lease TTL ${TTL_MS} ms)`,
    );
    // The standby takes a lease a TTL after the last renewal it saw; under load timers run late (3 TTLs).
    expect(movedMs).toBeLessThan(3 * TTL_MS + 2_000);
    for (const s of ocSessions) {
      const now = after.sessions.find((x) => x.sessionId === s.sessionId)!;
      expect(now.epoch).toBeGreaterThan(s.epoch);
    }

    const notices = await until("a session-adopted notice for each moved session", async () => {
      const all = await fleetNotices();
      const adopted = all.filter(
        (n) => n.kind === "session-adopted" && n.adoption?.clawId === "tb" && n.adoption.previousClawId === "oc",
      );
      return ocSessions.every((s) => adopted.some((a) => a.sessionId === s.sessionId)) ? all : undefined;
    });
    for (const s of ocSessions) {
      // (tb may have adopted it once before, while oc's plugin was still starting: then it was nobody's.)
      const adopted = notices.filter(
        (n) =>
          n.kind === "session-adopted" &&
          n.sessionId === s.sessionId &&
          n.adoption?.clawId === "tb" &&
          n.adoption.previousClawId === "oc",
      );
      expect(adopted, s.sessionId).toHaveLength(1);
      expect(adopted[0]!.adoption).toMatchObject({ previousClawId: "oc", why: "lapsed" });
      // The round-2 notice came while oc held the lease and was dead: listed for tb to look at.
      const r2 = notices.find(
        (n) => n.kind === "session-handoff" && n.session?.handoff?.note === handoffNote("r2", s.sessionId),
      );
      expect(r2, s.sessionId).toBeDefined();
      expect(adopted[0]!.adoption!.replayed, s.sessionId).toContain(r2!.id);
    }
    // tb got a system event for each adoption, and the round-2 notice of each of its own sessions.
    await until("tb's system events", async () =>
      ocSessions.every((s) => tb.events.some((e) => e.text.includes(s.sessionId) && e.text.includes("now yours"))) &&
      tbSessions.every((s) => tb.events.some((e) => e.text.includes(handoffNote("r2", s.sessionId))))
        ? true
        : undefined,
    );
  }, 120_000);

  it("refuses a Claw's command on a session it does not own, and one carrying an epoch from before the failover", async () => {
    const moved = before.sessions.find((s) => s.clawId === "oc" && threads.includes(s.sessionId))!;
    const target = { sessionId: moved.sessionId, hostId: HOST };
    const asOc = await command(
      "mark",
      { target, disposition: "blocked" },
      { caller: { id: "oc", role: "claw" }, lease: { epoch: moved.epoch } },
    );
    expect(asOc).toMatchObject({ ok: false, code: "denied", reason: "not_owner" });
    expect((asOc as { message: string }).message).toContain("tb");
    const staleTb = await command(
      "mark",
      { target, disposition: "blocked" },
      { caller: { id: "tb", role: "claw" }, lease: { epoch: moved.epoch } },
    );
    expect(staleTb).toMatchObject({ ok: false, code: "denied", reason: "stale_lease" });
    // Through the plugin's own caller, the current epoch goes along and it works.
    await expect(tb.caller.command("mark", { target, disposition: "blocked" })).resolves.toBeDefined();
  });
});

describe("escalation up the Claw groups", () => {
  let tb: Awaited<ReturnType<typeof inProcessClaw>>;
  let lead: Awaited<ReturnType<typeof inProcessClaw>>;

  beforeAll(async () => {
    // The first describe's tb holds every session now; a second plugin service for tb would be a second Claw
    // under one id, so this part starts from that one when it ran, else its own.
    lead = await inProcessClaw("lead");
    const existing = services.find((s) => s.status().clawId === "tb");
    tb = existing
      ? {
          svc: existing,
          events: capturedEvents.get("tb")!,
          caller: clawCaller(
            () => existing.connection(),
            "tb",
            20_000,
            () => existing.leases(),
          ),
        }
      : await inProcessClaw("tb");
    await until("tb owns the 20 sessions", async () => {
      const c = await claws();
      return (
        c.sessions.filter((s) => threads.includes(s.sessionId) && s.clawId === "tb").length === SESSIONS || undefined
      );
    });
  }, 120_000);

  it("a Claw's escalation reaches the parent group's Claw as a system event, and accepting moves the lease", async () => {
    const sessionId = threads[0]!;
    const target = { sessionId, hostId: HOST };
    const before = (await claws()).sessions.find((s) => s.sessionId === sessionId)!;
    const escalated = (await tb.caller.command("escalate", { target, reason: "needs a lead's call" })) as {
      escalation: { id: string; toGroup: string | null; fromGroup: string | null };
    };
    expect(escalated.escalation).toMatchObject({ fromGroup: "crew", toGroup: "leads" });
    await until(
      "the lead's system event",
      async () => lead.events.some((e) => e.text.includes(sessionId) && e.text.includes("escalated")) || undefined,
    );
    // Only the group it went to hears of it.
    expect(tb.events.some((e) => e.text.includes(sessionId) && e.text.includes("escalated to your group"))).toBe(false);
    await lead.caller.command("accept", { target, escalationId: escalated.escalation.id });
    const moved = await until("the lease with the lead", async () => {
      const s = (await claws()).sessions.find((x) => x.sessionId === sessionId);
      return s?.clawId === "lead" ? s : undefined;
    });
    expect(moved.epoch).toBeGreaterThan(before.epoch);
    const adopted = await until("the lead's session-adopted", async () =>
      (await fleetNotices()).find(
        (n) => n.kind === "session-adopted" && n.sessionId === sessionId && n.adoption?.clawId === "lead",
      ),
    );
    expect(adopted.adoption).toMatchObject({ previousClawId: "tb", why: "accepted", group: "leads" });
    // The Claw it came from no longer drives it.
    await expect(tb.caller.command("mark", { target, disposition: "blocked" })).rejects.toThrow(/lead/);
  }, 120_000);

  it("an ask nobody answers escalates on its own to the parent group, then to people: it shows in attention", async () => {
    await setPolicy(groupsEscalatingAfter(2_000));
    const sessionId = threads[1]!;
    const asked = await command(
      "ask",
      { target: { sessionId, hostId: HOST }, question: "which database?", kind: "decision" },
      { caller: { id: sessionId, role: "session" } },
    );
    expect(asked.ok, JSON.stringify(asked)).toBe(true);
    await until(
      "the lead hears of the unanswered ask",
      async () => lead.events.some((e) => e.text.includes(sessionId) && e.text.includes("escalated")) || undefined,
    );
    const row = await until("the ask in claw-supervisor attention as escalated to people", async () => {
      const r = await cli("attention", "--json");
      const items = JSON.parse(r.stdout).data.items as { sessionId: string; needs: string; detail: string }[];
      return items.find((i) => i.sessionId === sessionId && i.needs === "escalated");
    });
    expect(row.detail).toContain("escalated from group leads");
    const record = JSON.parse((await cli("sessions", "--json")).stdout).data.sessions.find(
      (s: { sessionId: string }) => s.sessionId === sessionId,
    );
    expect(record.escalation).toMatchObject({ toGroup: null, fromGroup: "leads", acceptedBy: null });
  }, 120_000);
});
