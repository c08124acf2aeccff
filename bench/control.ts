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
 * Policy instances: BENCH_POLICY_INSTANCES (default 2) policy services in queue group "policy", so commands go to
 * either and their rate limits are shared through KV codex-policy-state (the shape issue 17 asks to measure).
 *
 * Baseline: one JetStream publish to AUDIT until its ack, and one core NATS request to a trivial responder on the
 * same nats-server, both from the caller's connection, alternating, BENCH_BASE_ROUNDS each (default 300) before
 * the ops and as many after them. Each op's added p50 is reported as a multiple of the two p50s added (a command
 * that is stored and answered needs at least one of each); the target is at most 3x.
 *
 * Sizes: BENCH_READ_ROUNDS (default 300 per path), BENCH_TURN_ROUNDS (default 200 per path and op): a p50 of
 * turn ops, whose direct times spread over tens of ms, moves by about a millisecond with fewer.
 * `--json` prints only the machine-readable line; the last line of the normal output is that line anyway.
 *
 * The parts are started by control-rig.ts, sampled and summarised by control-stats.ts, and reported by
 * control-report.ts; this file is the run itself.
 */
import os from "node:os";
import { performance } from "node:perf_hooks";
import { textInput } from "../schemas/codex/index.js";
import type { CommandResult, CommandVerb } from "../schemas/commands.js";
import type { SessionRecord } from "../schemas/registry.js";
import { sendCommand } from "../services/cli/command-client.js";
import { getSession } from "../services/clients/registry-queries.js";
import { codexVersion } from "../test/support/codex-bin.js";
import { ControlRig, HOST, SLOW, until } from "./control-rig.js";
import { printReport } from "./control-report.js";
import {
  abPairs,
  baselineRatios,
  baselineSamples,
  type BaselineSamples,
  type OpResult,
  summarise,
  summariseBaseline,
} from "./control-stats.js";

const READ_ROUNDS = Number(process.env.BENCH_READ_ROUNDS ?? 300);
const TURN_ROUNDS = Number(process.env.BENCH_TURN_ROUNDS ?? 200);
const BASE_ROUNDS = Number(process.env.BENCH_BASE_ROUNDS ?? 300);
const BASE_WARMUP = 50;
const POLICY_INSTANCES = Number(process.env.BENCH_POLICY_INSTANCES ?? 2);
const READ_WARMUP = 20;
const TURN_WARMUP = 5;
const READ_LIMIT = 10;
const CALLER = "bench@control";
const JSON_ONLY = process.argv.includes("--json");
const TOPOLOGY = process.env.BENCH_TOPOLOGY ?? "single";
const TURN_PHASE = process.env.BENCH_TURN_PHASE ?? "streaming";
if (TURN_PHASE !== "streaming" && TURN_PHASE !== "start")
  throw new Error(`BENCH_TURN_PHASE must be streaming or start, not ${TURN_PHASE}`);
if (TOPOLOGY !== "single" && TOPOLOGY !== "processes")
  throw new Error(`BENCH_TOPOLOGY must be single or processes, not ${TOPOLOGY}`);
if (!(Number.isInteger(POLICY_INSTANCES) && POLICY_INSTANCES >= 1))
  throw new Error(`BENCH_POLICY_INSTANCES must be a positive integer, not ${process.env.BENCH_POLICY_INSTANCES}`);

const say = (line = ""): void => {
  if (!JSON_ONLY) console.log(line);
};

async function main(): Promise<void> {
  const cpus = os.cpus();
  say(
    `control benchmark: node ${process.version}, ${cpus.length} x ${cpus[0]?.model ?? "unknown cpu"}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ` +
      `codex-cli ${await codexVersion()}, topology ${TOPOLOGY}, turn phase ${TURN_PHASE}, ${POLICY_INSTANCES} policy instance(s), load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
  );

  const rig = new ControlRig();
  const results: OpResult[] = [];
  const base: BaselineSamples = { jsPublishAck: [], request: [] };
  const startedAt = performance.now();
  try {
    const { client, turns, caller, workspace, baseline } = await rig.start(TOPOLOGY, POLICY_INSTANCES);

    // One thread with READ_LIMIT finished turns, known to the registry and idle.
    const { thread } = await client.request("thread/start", { cwd: workspace });
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
      const { turn } = await client.request("turn/start", { threadId, input: textInput(`${label} ${SLOW}`) });
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

    // baseline, before the ops (and again after them)
    await baselineSamples(BASE_ROUNDS, BASE_WARMUP, baseline, base);

    // read
    let n = 0;
    const readPair = await abPairs(READ_ROUNDS, READ_WARMUP, {
      prepare: async () => undefined,
      supervisor: () => command("read", { target, limit: READ_LIMIT }),
      direct: () =>
        client.request("thread/turns/list", {
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
      direct: (text) => client.request("turn/start", { threadId, input: textInput(text) }),
      settle: (_text, r) => settled(turnIdOf(r)),
    });
    results.push(summarise("send (start a turn)", sendPair));

    // steer: each sample its own running turn; the steer text gets a quick answer, so the turn then ends by itself
    const steerPair = await abPairs(TURN_ROUNDS, TURN_WARMUP, {
      prepare: async () => ({ turnId: await runningTurn(`steer target ${n}`), text: `steer sample ${n++}` }),
      supervisor: ({ turnId, text }) => command("send", { target, text, mode: "steer", expectedTurnId: turnId }),
      direct: ({ turnId, text }) =>
        client.request("turn/steer", { threadId, input: textInput(text), expectedTurnId: turnId }),
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
      direct: (turnId) => client.request("turn/interrupt", { threadId, turnId }),
      settle: async (turnId) => {
        const status = await turns.completed(turnId);
        if (status !== "interrupted") throw new Error(`turn ${turnId} ended ${status}, not interrupted`);
        await until("the session idle again", idle);
      },
    });
    results.push(summarise("interrupt (running turn)", interruptPair));

    await baselineSamples(BASE_ROUNDS, BASE_WARMUP, baseline, base);
  } finally {
    await rig.stop();
  }

  const measured = summariseBaseline(base);
  printReport(
    results,
    { baseline: measured, ratios: baselineRatios(results, measured) },
    { topology: TOPOLOGY, turnPhase: TURN_PHASE, policyInstances: POLICY_INSTANCES, startedAt, cpus },
    say,
  );
}

await main();
process.exit(0);
