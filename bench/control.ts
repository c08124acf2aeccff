/**
 * What the supervisor adds to control: read, send (start a turn), steer and interrupt, each timed through the
 * supervisor and as the equivalent direct call on the same app-server, in the same run. Every part is real and
 * runs the way test/e2e/control.test.ts starts them: nats-server (its own process), the gateway, the registry,
 * the policy service and a host agent on a real codex app-server (unix socket) whose model is the fake model,
 * in a process of its own (bench/model-process.ts) as a real provider is never on the supervisor's event loop.
 *
 *  - supervisor: a NATS request on `codex.cmd.<verb>` as the CLI sends it (`sendCommand`: operator caller, a
 *    fresh idempotency key each time, the result checked), on its own NATS connection. That covers the policy
 *    service (audit, idempotency ledger, registry look-up, authorisation, rate limits), the gateway, the host
 *    agent and its app-server call(s), and the way back.
 *  - direct: a CodexRpcClient on the same app-server socket making the app-server call(s) the agent makes.
 *
 * read      → `thread/turns/list` (limit 10, desc, itemsView "full") on a thread of 10 turns.
 * send      → `turn/start` on an idle thread. The agent's view of the thread is settled and idle (it saw the last
 *             turn end), so it starts without asking `thread/turns/list` first (services/host-agent/commands.ts).
 * steer     → `turn/steer` with expectedTurnId on a running (slow) turn, each sample its own turn.
 * interrupt → `turn/interrupt` on a running (slow) turn, each sample its own turn.
 * Before each steer/interrupt sample the turn is started directly and both the app-server (`turn/started`) and the
 * registry (activeTurnId) show it running, so the agent knows the turn and makes no look-up; then, by default
 * (BENCH_TURN_PHASE=streaming), the sample waits until the turn streams its answer (the agent message item has
 * started), which is when a person or the Claw steers or stops a turn: they have seen it working.
 * BENCH_TURN_PHASE=start fires the sample as soon as the registry shows the turn instead. That lands it in the
 * app-server's own start-up work for the turn, when codex keeps the cores busy (the direct interrupt itself takes
 * about twice as long there as mid-stream): the supervisor's event loop then waits for a core at each of the hops
 * it makes through nats-server, where the direct call waits once. After each turn
 * sample the turn is left to end (or has been interrupted) and the registry shows the session idle: none of these
 * waits is timed. Supervisor and direct samples alternate (which goes first alternates too) after a warm-up.
 *
 * Topology: BENCH_TOPOLOGY=single (default) runs gateway, registry, policy service and host agent in this process,
 * as `claw-supervisor up` does; BENCH_TOPOLOGY=processes runs each as its own process from the built CLI
 * (`service rpc-gateway|registry|policy`, `host-agent`), as they are deployed beside a NATS cluster and on a host.
 *
 * Sizes: BENCH_READ_ROUNDS (default 300 per path), BENCH_TURN_ROUNDS (default 200 per path and op): a p50 of
 * turn ops, whose direct times spread over tens of ms, moves by about a millisecond with fewer.
 * `--json` prints only the machine-readable line; the last line of the normal output is that line anyway.
 */
import { fork } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { pino } from "pino";
import { textInput } from "../schemas/codex/index.js";
import type { CommandResult, CommandVerb } from "../schemas/commands.js";
import { ACTIVE_POLICY_KEY, DEFAULT_POLICY } from "../schemas/policy.js";
import type { SessionRecord } from "../schemas/registry.js";
import { connectBus, ensureBus, KV_BUCKET_NAMES, openKvBucket } from "../services/bus/index.js";
import { sendCommand } from "../services/cli/command-client.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../services/codex-rpc/index.js";
import { startHostAgent, type HostAgent } from "../services/host-agent/index.js";
import { startPolicyService, type PolicyService } from "../services/policy/index.js";
import { getSession, listHosts } from "../services/clients/registry-queries.js";
import { startRegistry, type Registry } from "../services/registry/index.js";
import { createHostToken, openHostTokenBucket, startGateway, type Gateway } from "../services/rpc-gateway/index.js";
import { codexVersion } from "../test/support/codex-bin.js";
import { startCodexAppServer, type CodexAppServer } from "../test/support/codex-harness.js";
import { startNatsServer, type NatsTestServer } from "../test/support/nats-server.js";
import { startCli, startService, stopService, type ServiceProcess } from "./service-process.js";

const READ_ROUNDS = Number(process.env.BENCH_READ_ROUNDS ?? 300);
const TURN_ROUNDS = Number(process.env.BENCH_TURN_ROUNDS ?? 200);
const READ_WARMUP = 20;
const TURN_WARMUP = 5;
const READ_LIMIT = 10;
const TARGET_P50_MS = 3;
const TARGET_P99_MS = 15;
const HOST = "bench-host";
const CALLER = "bench@control";
const JSON_ONLY = process.argv.includes("--json");
/** A prompt containing this gets a slow streamed answer from the fake model. */
const SLOW = "[slow]";
const TOPOLOGY = process.env.BENCH_TOPOLOGY ?? "single";
const TURN_PHASE = process.env.BENCH_TURN_PHASE ?? "streaming";
if (TURN_PHASE !== "streaming" && TURN_PHASE !== "start")
  throw new Error(`BENCH_TURN_PHASE must be streaming or start, not ${TURN_PHASE}`);
if (TOPOLOGY !== "single" && TOPOLOGY !== "processes")
  throw new Error(`BENCH_TOPOLOGY must be single or processes, not ${TOPOLOGY}`);
const WAIT_MS = 15_000;

const say = (line = ""): void => {
  if (!JSON_ONLY) console.log(line);
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Nearest-rank quantile of sorted samples. */
const quantile = (sorted: number[], q: number): number =>
  sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1))] ?? NaN;

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

async function until<T>(
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
function watchTurns(client: CodexRpcClient) {
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

interface Pair {
  supervisor: number[];
  direct: number[];
}

interface OpResult {
  op: string;
  samples: number;
  direct: { p50: number; p99: number };
  supervisor: { p50: number; p99: number };
  added: { p50: number; p99: number };
  ratio: { p50: number; p99: number };
  met: { p50: boolean; p99: boolean };
}

function summarise(op: string, pair: Pair): OpResult {
  const d = [...pair.direct].sort((a, b) => a - b);
  const s = [...pair.supervisor].sort((a, b) => a - b);
  const direct = { p50: quantile(d, 0.5), p99: quantile(d, 0.99) };
  const supervisor = { p50: quantile(s, 0.5), p99: quantile(s, 0.99) };
  const added = { p50: supervisor.p50 - direct.p50, p99: supervisor.p99 - direct.p99 };
  return {
    op,
    samples: Math.min(d.length, s.length),
    direct,
    supervisor,
    added,
    ratio: { p50: supervisor.p50 / direct.p50, p99: supervisor.p99 / direct.p99 },
    met: { p50: added.p50 <= TARGET_P50_MS, p99: added.p99 <= TARGET_P99_MS },
  };
}

/**
 * Runs `warmup` then `rounds` A/B pairs; each sample is `prepare` (untimed), the timed call, `settle` (untimed).
 * The order within a pair alternates so drift hits both paths alike.
 */
async function abPairs<P>(
  rounds: number,
  warmup: number,
  steps: {
    prepare: () => Promise<P>;
    supervisor: (p: P) => Promise<unknown>;
    direct: (p: P) => Promise<unknown>;
    settle: (p: P, result: unknown) => Promise<void>;
  },
): Promise<Pair> {
  const pair: Pair = { supervisor: [], direct: [] };
  const one = async (which: "supervisor" | "direct", record: boolean) => {
    const p = await steps.prepare();
    const t0 = performance.now();
    const result = await steps[which](p);
    const ms = performance.now() - t0;
    await steps.settle(p, result);
    if (record) pair[which].push(ms);
  };
  for (let i = 0; i < warmup + rounds; i++) {
    const record = i >= warmup;
    const order: ("supervisor" | "direct")[] = i % 2 === 0 ? ["supervisor", "direct"] : ["direct", "supervisor"];
    for (const which of order) await one(which, record);
  }
  return pair;
}

async function main(): Promise<void> {
  const cpus = os.cpus();
  say(
    `control benchmark: node ${process.version}, ${cpus.length} x ${cpus[0]?.model ?? "unknown cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
      `codex-cli ${await codexVersion()}, topology ${TOPOLOGY}, turn phase ${TURN_PHASE}, load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
  );

  const quiet = pino({ level: "silent" });
  let nats: NatsTestServer | undefined;
  let nc: NatsConnection | undefined;
  let callerNc: NatsConnection | undefined;
  let gateway: Gateway | undefined;
  let registry: Registry | undefined;
  let policy: PolicyService | undefined;
  const processes: ServiceProcess[] = [];
  let model: ModelProcess | undefined;
  let server: CodexAppServer | undefined;
  let agent: HostAgent | undefined;
  let client: CodexRpcClient | undefined;
  let stateDir: string | undefined;
  const results: OpResult[] = [];
  const startedAt = performance.now();
  try {
    nats = await startNatsServer();
    // Connected the way the services and the CLI connect (connectBus: no async stack traces per request).
    nc = await connectBus({ servers: nats.url, name: "bench-services" });
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
    if (TOPOLOGY === "single") {
      gateway = await startGateway({ natsConnection: nc, port: 0, logger: quiet });
      gatewayUrl = gateway.url;
      registry = await startRegistry({ nc });
      policy = await startPolicyService({ nc, logger: quiet });
      await until("the benchmark policy applied", () => policy!.policyRevision() !== null);
    } else {
      // The policy document is in KV before the policy process starts, so it is in force from its first command.
      const gw = await startService("rpc-gateway", nats.url, ["--port", "0"]);
      processes.push(gw);
      gatewayUrl = String(gw.ready.url);
      processes.push(await startService("registry", nats.url));
      processes.push(await startService("policy", nats.url));
    }
    model = await startModelProcess();
    server = await startCodexAppServer({ model, listen: "unix" });
    stateDir = await mkdtemp(path.join(os.tmpdir(), "bench-control-"));
    const minted = await createHostToken(await openHostTokenBucket(nc, { create: true }), HOST);
    if (TOPOLOGY === "single") {
      agent = await startHostAgent({
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
      processes.push(
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
    client = await connectCodex(parseEndpoint(server.endpoint));
    await client.initialize({
      clientInfo: { name: "bench-direct", version: "0" },
      optOutNotificationMethods: ["item/agentMessage/delta"],
    });
    const turns = watchTurns(client);
    callerNc = await connectBus({ servers: nats.url, name: "bench-caller" });
    const caller = callerNc;
    await until("the host online", async () =>
      (await listHosts(caller)).find((h) => h.hostId === HOST && h.status === "online"),
    );

    // One thread with READ_LIMIT finished turns, known to the registry and idle.
    const { thread } = await client.request("thread/start", { cwd: server.workspace });
    const threadId = thread.id;
    for (let i = 0; i < READ_LIMIT; i++) {
      const { turn } = await client.request("turn/start", { threadId, input: textInput(`setup turn ${i}`) });
      await turns.completed(turn.id);
    }
    const session = (pred: (s: SessionRecord) => boolean) => async () => {
      const s = await getSession(caller, { sessionId: threadId, host: HOST });
      return s && pred(s) ? s : undefined;
    };
    const idle = session((s) => s.activeTurnId === null && (s.status === "idle" || s.status === "interrupted"));
    await until("the session idle in the registry", idle);

    const target = { sessionId: threadId, hostId: HOST };
    const command = async (verb: CommandVerb, args: unknown): Promise<Extract<CommandResult, { ok: true }>> => {
      const r = await sendCommand(caller, verb, args, { callerId: CALLER, timeoutMs: 20_000 });
      if (!r.ok) throw new Error(`${verb} through the supervisor failed: ${r.code}: ${r.message}`);
      return r;
    };
    /** Starts a slow turn directly; resolves once the app-server and the registry both show it running. */
    const runningTurn = async (label: string): Promise<string> => {
      const { turn } = await client!.request("turn/start", { threadId, input: textInput(`${label} ${SLOW}`) });
      await turns.started(turn.id);
      await until(
        `turn ${turn.id} active in the registry`,
        session((s) => s.activeTurnId === turn.id),
      );
      if (TURN_PHASE === "streaming") await turns.streaming(turn.id);
      return turn.id;
    };
    const settled = async (turnId: string) => {
      await turns.completed(turnId);
      await until("the session idle again", idle);
    };
    const turnIdOf = (r: unknown): string => {
      const d = r as { data?: { turnId?: string }; turn?: { id: string }; turnId?: string };
      const id = d.data?.turnId ?? d.turn?.id ?? d.turnId;
      if (!id) throw new Error(`no turn id in ${JSON.stringify(r)}`);
      return id;
    };

    say(`setup: ${((performance.now() - startedAt) / 1000).toFixed(1)} s; thread ${threadId} with ${READ_LIMIT} turns`);
    say(
      `${READ_ROUNDS} samples per path for read (after ${READ_WARMUP} warm-up pairs), ${TURN_ROUNDS} per path for send, steer and interrupt ` +
        `(after ${TURN_WARMUP}), supervisor and direct alternating; p99 is nearest-rank; added = supervisor - direct, ratio = supervisor / direct`,
    );

    // read
    let n = 0;
    const readPair = await abPairs(READ_ROUNDS, READ_WARMUP, {
      prepare: async () => undefined,
      supervisor: () => command("read", { target, limit: READ_LIMIT }),
      direct: () =>
        client!.request("thread/turns/list", {
          threadId,
          limit: READ_LIMIT,
          cursor: null,
          sortDirection: "desc",
          itemsView: "full",
        }),
      settle: async () => undefined,
    });
    results.push(summarise(`read (turns/list ${READ_LIMIT}, full)`, readPair));

    // send: start a quick turn on an idle thread
    const sendPair = await abPairs(TURN_ROUNDS, TURN_WARMUP, {
      prepare: async () => `send sample ${n++}`,
      supervisor: (text) => command("send", { target, text, mode: "start" }),
      direct: (text) => client!.request("turn/start", { threadId, input: textInput(text) }),
      settle: (_text, r) => settled(turnIdOf(r)),
    });
    results.push(summarise("send (start a turn)", sendPair));

    // steer: each sample its own running turn; the steer text gets a quick answer, so the turn then ends by itself
    const steerPair = await abPairs(TURN_ROUNDS, TURN_WARMUP, {
      prepare: async () => ({ turnId: await runningTurn(`steer target ${n}`), text: `steer sample ${n++}` }),
      supervisor: ({ turnId, text }) => command("send", { target, text, mode: "steer", expectedTurnId: turnId }),
      direct: ({ turnId, text }) =>
        client!.request("turn/steer", { threadId, input: textInput(text), expectedTurnId: turnId }),
      settle: async ({ turnId }, r) => {
        if (turnIdOf(r) !== turnId) throw new Error(`steer landed on ${turnIdOf(r)}, not ${turnId}`);
        await settled(turnId);
      },
    });
    results.push(summarise("steer (running turn)", steerPair));

    // interrupt: each sample its own running turn
    const interruptPair = await abPairs(TURN_ROUNDS, TURN_WARMUP, {
      prepare: () => runningTurn(`interrupt target ${n++}`),
      supervisor: (turnId) => command("interrupt", { target, turnId }),
      direct: (turnId) => client!.request("turn/interrupt", { threadId, turnId }),
      settle: async (turnId) => {
        const status = await turns.completed(turnId);
        if (status !== "interrupted") throw new Error(`turn ${turnId} ended ${status}, not interrupted`);
        await until("the session idle again", idle);
      },
    });
    results.push(summarise("interrupt (running turn)", interruptPair));
  } finally {
    client?.close();
    await agent?.stop();
    for (const p of processes.reverse()) await stopService(p);
    await policy?.stop();
    await registry?.stop();
    await gateway?.stop();
    await server?.stop();
    await model?.stop();
    await callerNc?.close();
    await nc?.close();
    await nats?.stop();
    if (stateDir) await rm(stateDir, { recursive: true, force: true });
  }

  const ms = (v: number) => `${v.toFixed(2)} ms`;
  const x = (v: number) => `${v.toFixed(2)}x`;
  const cols: [string, number][] = [
    ["op", 28],
    ["direct p50", 11],
    ["direct p99", 11],
    ["superv. p50", 12],
    ["superv. p99", 12],
    ["added p50", 10],
    ["added p99", 10],
    ["ratio p50", 10],
    ["ratio p99", 10],
  ];
  say();
  say(cols.map(([h, w], i) => (i === 0 ? h.padEnd(w) : h.padStart(w))).join(" "));
  for (const r of results) {
    const cells = [
      r.op,
      ms(r.direct.p50),
      ms(r.direct.p99),
      ms(r.supervisor.p50),
      ms(r.supervisor.p99),
      ms(r.added.p50),
      ms(r.added.p99),
      x(r.ratio.p50),
      x(r.ratio.p99),
    ];
    say(cells.map((c, i) => (i === 0 ? c.padEnd(cols[i]![1]) : c.padStart(cols[i]![1]))).join(" "));
  }
  say();
  say(`targets: added p50 at most ${TARGET_P50_MS} ms, added p99 at most ${TARGET_P99_MS} ms`);
  for (const r of results) {
    const verdict = (ok: boolean) => (ok ? "met" : "NOT met");
    say(
      `  ${r.op.padEnd(28)} p50 +${r.added.p50.toFixed(2)} ms: ${verdict(r.met.p50)}; p99 +${r.added.p99.toFixed(2)} ms: ${verdict(r.met.p99)}`,
    );
  }
  say("notes: send finds the agent's view of the thread settled and idle, so the agent starts the turn without a");
  say("  look-up, like the direct path; steer and interrupt go to a turn the agent already knows (no look-up either),");
  say(
    TURN_PHASE === "streaming"
      ? "  once it streams its answer (BENCH_TURN_PHASE=start: as soon as the registry shows it)."
      : "  as soon as the registry shows it, inside the app-server's start-up work for the turn.",
  );
  say(
    TOPOLOGY === "single"
      ? "  Every service shares this process's event loop (as in 'claw-supervisor up')."
      : "  Gateway, registry, policy service and host agent each run as their own process (as deployed).",
  );
  say(
    `run: ${((performance.now() - startedAt) / 1000).toFixed(1)} s, load average at the end ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(" ")}`,
  );
  console.log(
    JSON.stringify({
      bench: "control",
      node: process.version,
      topology: TOPOLOGY,
      turnPhase: TURN_PHASE,
      cpus: cpus.length,
      cpu: cpus[0]?.model ?? null,
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      targets: { addedP50Ms: TARGET_P50_MS, addedP99Ms: TARGET_P99_MS },
      results,
    }),
  );
}

await main();
process.exit(0);
