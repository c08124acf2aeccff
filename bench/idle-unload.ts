/**
 * Idle unload: what the host agent's release of idle threads is worth in the Codex daemon's memory. The real
 * daemon is started as `claw-supervisor launch` starts it (`codex app-server daemon start`, through
 * ensureAppServer, on a private CODEX_HOME with the fake model), the real host agent follows it over its socket
 * (`unix://`) and ships to a test gateway. A separate client creates N threads (default 100), one short turn
 * each, and leaves them, as a person's TUI does when it exits, so only the agent keeps them loaded. The daemon's
 * memory (VmRSS, RssAnon, and PSS from /proc/<pid>) is read with the N idle threads loaded, and again after the
 * agent released them (idleUnloadMs) and codex unloaded them (thread_unload_delay_secs, 60 s by default):
 * `thread/loaded/list` has none of them and every connection got their `thread/closed`. Prints both, their
 * ratio, and the daemon with no thread for reference (cold, and warm after one turn). A second round (--rounds)
 * loads N new threads into the same daemon: whether the memory the first N left behind is used again.
 *
 * Usage: node dist-bench/bench/idle-unload.js [--threads N] [--idle-ms MS] [--unload-delay-secs S] [--rounds R]
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs, promisify } from "node:util";
import { textInput } from "../schemas/codex/index.js";
import { connectCodex, parseEndpoint, type CodexRpcClient } from "../services/codex-rpc/index.js";
import { loadedThreadIds } from "../services/host-agent/app-server-queries.js";
import { ensureAppServer, startHostAgent, type HostAgent } from "../services/host-agent/index.js";
import { startTestGateway, type TestGateway } from "../services/host-agent/test-gateway.js";
import { codexBinPath, codexVersion } from "../test/support/codex-bin.js";
import { offlineConfigToml } from "../test/support/codex-harness.js";
import { startFakeModel, type FakeModel } from "../test/support/fake-model.js";
import { recordNotifications, type NotificationLog } from "../test/support/notifications.js";

const { values } = parseArgs({
  options: {
    threads: { type: "string", default: "100" },
    "idle-ms": { type: "string", default: "90000" },
    "unload-delay-secs": { type: "string", default: "60" },
    rounds: { type: "string", default: "2" },
  },
});
const THREADS = Number(values.threads);
const IDLE_MS = Number(values["idle-ms"]);
const UNLOAD_DELAY_SECS = Number(values["unload-delay-secs"]);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = 4;
const SETTLE_MS = 5_000;
const TOKEN = "idle-unload-bench-token";

/** Memory of one process in KiB, from /proc; pss is null where smaps_rollup is not readable. */
interface Memory {
  rss: number;
  anon: number;
  pss: number | null;
}

function readMemory(pid: number): Memory {
  const field = (text: string, key: string): number => {
    const match = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(text);
    if (!match) throw new Error(`no ${key} in /proc/${pid}`);
    return Number(match[1]);
  };
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  let pss: number | null = null;
  try {
    pss = field(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"), "Pss");
  } catch {
    pss = null;
  }
  return { rss: field(status, "VmRSS"), anon: field(status, "RssAnon"), pss };
}

/** The median of three readings a second apart, field by field. */
async function sampleMemory(pid: number): Promise<Memory> {
  const samples: Memory[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await delay(1_000);
    samples.push(readMemory(pid));
  }
  const median = (pick: (m: Memory) => number | null): number | null => {
    const xs = samples.map(pick);
    if (xs.some((x) => x === null)) return null;
    return (xs as number[]).sort((a, b) => a - b)[1]!;
  };
  return { rss: median((m) => m.rss)!, anon: median((m) => m.anon)!, pss: median((m) => m.pss) };
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  ms: number,
) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(250);
  }
}

async function loadedIds(client: CodexRpcClient): Promise<Set<string>> {
  return new Set(await loadedThreadIds(client));
}

/** One thread with one short turn, then left (unsubscribed) by the creating client. */
async function createThread(client: CodexRpcClient, log: NotificationLog, workspace: string, i: number) {
  const { thread } = await client.request("thread/start", { cwd: workspace });
  const { turn } = await client.request("turn/start", {
    threadId: thread.id,
    input: textInput(`benchmark thread ${i}: say hello`),
  });
  await log.waitFor("turn/completed", (p) => p.turn.id === turn.id, 60_000);
  return thread.id;
}

async function main(): Promise<void> {
  const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), "idle-unload-bench-")));
  const codexHome = path.join(tmp, "codex-home");
  const home = path.join(tmp, "home");
  const workspace = path.join(tmp, "workspace");
  for (const dir of [codexHome, home, workspace]) mkdirSync(dir, { recursive: true });
  let model: FakeModel | undefined;
  let gateway: TestGateway | undefined;
  let agent: HostAgent | undefined;
  let client: CodexRpcClient | undefined;
  let env: NodeJS.ProcessEnv = {};
  const bin = codexBinPath();
  try {
    model = await startFakeModel({ defaultReply: { kind: "text", text: "Hello from the benchmark's model." } });
    const proxy = new URL(model.baseUrl).origin;
    env = {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: home,
      CODEX_HOME: codexHome,
      FAKE_OPENAI_API_KEY: "fake-key",
      LANG: "C.UTF-8",
      // Nothing leaves the machine: the fake model refuses CONNECT; loopback goes straight to it.
      ...Object.fromEntries(
        ["http_proxy", "https_proxy", "all_proxy"].flatMap((k) => [
          [k, proxy],
          [k.toUpperCase(), proxy],
        ]),
      ),
      no_proxy: "127.0.0.1,localhost,::1",
      NO_PROXY: "127.0.0.1,localhost,::1",
    };
    // A root key, so it goes before the tables of the offline config.
    writeFileSync(
      path.join(codexHome, "config.toml"),
      `thread_unload_delay_secs = ${UNLOAD_DELAY_SECS}\n${offlineConfigToml(model.baseUrl, workspace)}`,
    );
    await ensureAppServer("unix://", { codexBin: bin, env, notice: () => undefined, startTimeoutMs: 60_000 });
    const daemonPid = (
      JSON.parse(readFileSync(path.join(codexHome, "app-server-daemon", "daemon.pid"), "utf8")) as { pid: number }
    ).pid;

    gateway = await startTestGateway({ token: TOKEN });
    agent = await startHostAgent({
      hostId: "bench-host",
      gatewayUrl: gateway.url,
      token: TOKEN,
      stateDir: path.join(tmp, "agent-state"),
      endpoint: "unix://",
      env,
      idleUnloadMs: IDLE_MS,
    });
    client = await connectCodex(parseEndpoint("unix://", { env }));
    const log = recordNotifications(client);
    await client.initialize({
      clientInfo: { name: "idle-unload-bench", version: "0" },
      optOutNotificationMethods: ["item/agentMessage/delta"],
    });
    await waitFor("the agent on the daemon", () => agent!.status().appServer === "connected", 30_000);

    const cpu = os.cpus()[0]?.model ?? "unknown cpu";
    const load = () =>
      os
        .loadavg()
        .map((x) => x.toFixed(2))
        .join(" ");
    console.log(
      `idle-unload benchmark: codex-cli ${await codexVersion()}, node ${process.version}, ${os.cpus().length} x ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    );
    console.log(`load average at start: ${load()} (other work on this machine shares its cores)`);
    console.log(
      `daemon pid ${daemonPid} (codex app-server daemon start, as launch does), thread_unload_delay_secs = ${UNLOAD_DELAY_SECS}, agent idleUnloadMs = ${IDLE_MS}\n`,
    );
    await delay(SETTLE_MS);
    const cold = await sampleMemory(daemonPid);
    // One ephemeral thread (the agent ignores those) runs a turn and is unloaded: what any first turn costs once
    // (the model client, tools, caches) is then in the baseline, not counted against the N threads.
    const warmUp = (await client.request("thread/start", { cwd: workspace, ephemeral: true })).thread.id;
    const warmTurn = await client.request("turn/start", { threadId: warmUp, input: textInput("warm up") });
    await log.waitFor("turn/completed", (p) => p.turn.id === warmTurn.turn.id, 60_000);
    await client.request("thread/unsubscribe", { threadId: warmUp });
    await waitFor(
      "the warm-up thread unloaded",
      async () => !(await loadedIds(client!)).has(warmUp),
      UNLOAD_DELAY_SECS * 1_000 + 60_000,
    );
    await delay(SETTLE_MS);
    const empty = await sampleMemory(daemonPid);

    /** One round: N threads created and left, read loaded; released by the agent and unloaded, read again. */
    const round = async (r: number) => {
      const createdAt = Date.now();
      const ids: string[] = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < THREADS) {
            const i = next++;
            ids.push(await createThread(client!, log, workspace, r * THREADS + i));
          }
        }),
      );
      const createMs = Date.now() - createdAt;
      // The agent follows each thread (it stored each turn's completion), then the creator leaves them all.
      await waitFor(
        "the agent to store every thread's turn",
        () => {
          const events = gateway!.uniqueEvents().filter((e) => e.type === "turn/completed");
          const done = new Set(events.map((e) => e.threadId));
          return ids.every((id) => done.has(id));
        },
        120_000,
      );
      for (const id of ids) await client!.request("thread/unsubscribe", { threadId: id });
      await delay(SETTLE_MS);
      const loadedBefore = await loadedIds(client!);
      const loaded = await sampleMemory(daemonPid);
      const releasedEarly = agent!.status().releasedThreads;
      if (releasedEarly > 0 || !ids.every((id) => loadedBefore.has(id)))
        throw new Error(
          `the ${THREADS} threads were not all loaded and followed while measured (released: ${releasedEarly}); raise --idle-ms`,
        );
      const measuredAt = Date.now();
      const closed = () =>
        new Set(log.matching("thread/closed").map((n) => (n.params as { threadId: string }).threadId));
      await waitFor(
        "every thread unloaded (thread/closed, and not in thread/loaded/list)",
        async () => {
          if (!ids.every((id) => closed().has(id))) return false;
          const loadedNow = await loadedIds(client!);
          return ids.every((id) => !loadedNow.has(id));
        },
        IDLE_MS + UNLOAD_DELAY_SECS * 1_000 + 180_000,
      );
      const unloadedAfterMs = Date.now() - measuredAt;
      await delay(SETTLE_MS);
      const unloaded = await sampleMemory(daemonPid);
      const loadedAfter = await loadedIds(client!);
      if (ids.some((id) => loadedAfter.has(id))) throw new Error("a thread was loaded again while measured");
      return { createMs, loaded, unloaded, unloadedAfterMs };
    };
    const results = [];
    for (let r = 0; r < ROUNDS; r++) results.push(await round(r));

    const mib = (kib: number | null) => (kib === null ? "n/a" : `${(kib / 1024).toFixed(1)} MiB`);
    const line = (label: string, cells: string[]) =>
      console.log(`${label.padEnd(46)} ${cells.map((c) => c.padStart(11)).join(" ")}`);
    const row = (label: string, m: Memory) => line(label, [mib(m.rss), mib(m.anon), mib(m.pss)]);
    /** `f` over the three fields of some readings; n/a where a reading has no PSS. */
    const fields = (ms: Memory[], f: (...xs: number[]) => string): string[] =>
      (["rss", "anon", "pss"] as const).map((k) => {
        const xs = ms.map((m) => m[k]);
        return xs.some((x) => x === null) ? "n/a" : f(...(xs as number[]));
      });
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`;
    console.log(
      `${THREADS} threads per round, one short turn each, ${CONCURRENCY} at a time (created in ${results.map((x) => `${(x.createMs / 1000).toFixed(1)} s`).join(", ")}); each reading is the median of 3, 1 s apart, ${SETTLE_MS / 1000} s after the step\n`,
    );
    line("daemon", ["RSS", "anon RSS", "PSS"]);
    row("no thread (just started)", cold);
    row("no thread, after one turn (warm)", empty);
    results.forEach((x, r) => {
      row(`${THREADS} idle threads loaded${r === 0 ? "" : ` (round ${r + 1})`}`, x.loaded);
      row(`after the agent released them${r === 0 ? "" : ` (round ${r + 1})`}`, x.unloaded);
    });
    const first = results[0]!;
    line("after / loaded", fields([first.unloaded, first.loaded], ratio));
    line(
      "per loaded thread (loaded - warm)",
      fields([first.loaded, empty], (a, b) => `${((a - b) / THREADS).toFixed(0)} KiB`),
    );
    line(
      "given back: (loaded - after) / (loaded - warm)",
      fields([first.loaded, first.unloaded, empty], (l, a, w) => `${(((l - a) / (l - w)) * 100).toFixed(0)} %`),
    );
    for (const [r, x] of results.entries())
      if (r > 0) line(`round ${r + 1} loaded / round 1 loaded`, fields([x.loaded, first.loaded], ratio));
    console.log(
      `\nunloaded ${results.map((x) => `${(x.unloadedAfterMs / 1000).toFixed(0)} s`).join(", ")} after the loaded reading (thread/loaded/list has none of them, each had its thread/closed); agent tracks ${agent.status().threads} threads`,
    );
    console.log(`load average at the end: ${load()}`);
  } finally {
    await agent?.stop();
    client?.close();
    await gateway?.close();
    await stopDaemon(bin, env, codexHome);
    await model?.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** `codex app-server daemon stop`, then the pid-update-loop it leaves behind (and the daemon if still up), by pid. */
async function stopDaemon(bin: string, env: NodeJS.ProcessEnv, codexHome: string): Promise<void> {
  await promisify(execFile)(bin, ["app-server", "daemon", "stop"], { env, timeout: 30_000 }).catch(() => undefined);
  for (const file of ["daemon-updater.pid", "daemon.pid"]) {
    try {
      const { pid } = JSON.parse(readFileSync(path.join(codexHome, "app-server-daemon", file), "utf8")) as {
        pid: number;
      };
      // Only a process of this CODEX_HOME's binary copy: the pid may have been reused since.
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(codexHome)) process.kill(pid, "SIGTERM");
    } catch {
      // Gone already, or never written.
    }
  }
}

await main();
