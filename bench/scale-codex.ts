/**
 * bench/scale.ts's per-call baseline: real `codex app-server` processes (the pinned @openai/codex binary, offline
 * against the fake model, listening on a unix socket as the host agent connects to it), each holding its share of
 * stored threads, and the fan-out a per-call design does for `sessions list`: `thread/list` on every one at once,
 * following its pages, then one merged list.
 *
 * The stored threads are seeded, not made one turn at a time (a thread with one turn cost the app-server ~80 ms of
 * CPU here, ~13 minutes of both cores for 10,000): a few real threads are made first on a real app-server, and
 * their rollout files (`$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl`, what codex writes) are
 * copied into each server's sessions dir with fresh UUIDs, times, workspace and prompt. A server indexes the
 * rollouts it finds into its state DB at start (its `backfill_state`), and `thread/list` answers from that.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import WebSocket from "ws";
import { textInput } from "../schemas/codex/index.js";
import { connectCodex, parseEndpoint } from "../services/codex-rpc/index.js";
import { codexBinPath } from "../test/support/codex-bin.js";
import { offlineConfigToml, startCodexAppServer } from "../test/support/codex-harness.js";
import { sleep } from "./ingest-rig.js";

/** The rollout file of one real thread, with what a copy replaces. */
export interface RolloutTemplate {
  text: string;
  /** The temp dir the thread's server ran in (its codex-home, home and workspace; replaced by each server's own). */
  root: string;
  /** The marker in its prompt (replaced by a per-thread task name, so previews differ). */
  marker: string;
}

/** A thread of `thread/list`, as far as the merge reads it. */
export interface ListedThread {
  id: string;
  updatedAt: number;
  preview: string;
}

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const TIMESTAMP = /"timestamp":"([^"]+)"/g;
/** `thread/list` gave at most 100 threads a page (codex-cli 0.169.0), whatever larger limit was asked. */
const LIST_PAGE = 100;

/** Makes `count` real threads (one turn each) on a real app-server and returns their rollout files. */
export async function recordRolloutTemplates(modelUrl: string, count: number): Promise<RolloutTemplate[]> {
  const server = await startCodexAppServer({ model: { baseUrl: modelUrl }, listen: "unix" });
  const client = await connectCodex(parseEndpoint(server.endpoint));
  try {
    await client.initialize({
      clientInfo: { name: "bench-scale", version: "0" },
      optOutNotificationMethods: ["item/agentMessage/delta"],
    });
    const done = new Set<string>();
    client.on("turn/completed", (p) => done.add(p.turn.id));
    const threads: { id: string; marker: string }[] = [];
    for (let i = 0; i < count; i++) {
      const marker = `SCALEBENCHTASK${i}`;
      const { thread } = await client.request("thread/start", { cwd: server.workspace });
      const { turn } = await client.request("turn/start", {
        threadId: thread.id,
        input: textInput(`Fix the flaky test in the payments service (${marker}) and open a PR`),
      });
      for (const deadline = Date.now() + 30_000; !done.has(turn.id); await sleep(5))
        if (Date.now() > deadline) throw new Error(`template turn ${turn.id} did not complete in 30 s`);
      threads.push({ id: thread.id, marker });
    }
    const { data } = await client.request("thread/list", { limit: count });
    return threads.map(({ id, marker }) => {
      const file = data.find((t) => t.id === id)?.path;
      if (!file) throw new Error(`thread/list gave no rollout path for template thread ${id}`);
      return { text: readFileSync(file, "utf8"), root: path.dirname(server.workspace), marker };
    });
  } finally {
    client.close();
    await server.stop();
  }
}

/**
 * Writes `count` rollout files into `root/codex-home/sessions` (the harness's layout: `root/{codex-home,home,workspace}`),
 * copies of `templates` in turn: every UUID in a copy replaced by a fresh one (thread, turns, items), its times
 * moved to `startMs + i` minutes, the template's root dir and the prompt's marker replaced. Returns the thread ids.
 */
export function seedRollouts(
  root: string,
  templates: readonly RolloutTemplate[],
  count: number,
  label: string,
  startMs: number,
): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const template = templates[i % templates.length]!;
    const fresh = new Map<string, string>();
    const text = template.text
      .replace(UUID, (old) => fresh.get(old) ?? fresh.set(old, randomUUID()).get(old)!)
      .replaceAll(template.root, root)
      .replaceAll(template.marker, `${label}-t${i}`);
    const threadId = fresh.get(firstLine(template.text).payload.id) ?? "";
    const firstAt = Date.parse(/"timestamp":"([^"]+)"/.exec(template.text)?.[1] ?? "");
    const shift = startMs + i * 60_000 - firstAt;
    const shifted = text.replace(TIMESTAMP, (_, at: string) => `"timestamp":"${iso(Date.parse(at) + shift)}"`);
    const at = iso(startMs + i * 60_000);
    const dir = path.join(root, "codex-home", "sessions", at.slice(0, 4), at.slice(5, 7), at.slice(8, 10));
    mkdirSync(dir, { recursive: true });
    const id = firstLine(shifted).payload.id;
    if (id !== threadId || !id) throw new Error(`a seeded rollout's session_meta id is ${id}, expected ${threadId}`);
    writeFileSync(path.join(dir, `rollout-${at.slice(0, 19).replaceAll(":", "-")}-${id}.jsonl`), shifted);
    ids.push(id);
  }
  return ids;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A rollout's first line: its `session_meta`. */
const firstLine = (text: string): { payload: { id: string } } => JSON.parse(text.slice(0, text.indexOf("\n")));

/** A real app-server on a seeded CODEX_HOME, with one raw connection held open for listing. */
export interface SeededAppServer {
  pid: number;
  threads: number;
  /**
   * Every stored thread, following `thread/list` pages on the held connection (raw JSON, no validation);
   * `stateDbOnly` passes `useStateDbOnly: true` (the server answers from its state DB without reading rollouts).
   */
  listAll(stateDbOnly?: boolean): Promise<ListedThread[]>;
  /** SIGTERM (SIGKILL after 3 s), waits for exit, removes its temp dir. */
  stop(): Promise<void>;
}

/**
 * Seeds `threads` stored threads, starts `codex app-server --listen unix://…` on them (the harness's offline
 * config), connects, and waits until `thread/list` gives them all (the server indexes its rollouts at start).
 */
export async function startSeededAppServer(
  modelUrl: string,
  templates: readonly RolloutTemplate[],
  threads: number,
  label: string,
): Promise<SeededAppServer> {
  const tmp = realpathSync(mkdtempSync(path.join(os.tmpdir(), "claw-bench-scale-codex-")));
  const codexHome = path.join(tmp, "codex-home");
  const home = path.join(tmp, "home");
  const workspace = path.join(tmp, "workspace");
  for (const dir of [codexHome, home, workspace]) mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(codexHome, "config.toml"), offlineConfigToml(modelUrl, workspace));
  seedRollouts(tmp, templates, threads, label, Date.parse("2026-01-01T00:00:00Z"));
  const socketPath = path.join(tmp, "app.sock");
  const proxy = new URL(modelUrl).origin;
  const child: ChildProcess = spawn(
    codexBinPath(),
    ["app-server", "--listen", `unix://${socketPath}`, "--disable", "daemon_auto_start"],
    {
      cwd: workspace,
      env: {
        PATH: process.env.PATH ?? "/usr/bin:/bin",
        HOME: home,
        CODEX_HOME: codexHome,
        FAKE_OPENAI_API_KEY: "fake-key",
        LANG: "C.UTF-8",
        TMPDIR: tmp,
        // No egress: anything but the loopback model goes to the fake model, which refuses CONNECT.
        http_proxy: proxy,
        https_proxy: proxy,
        HTTP_PROXY: proxy,
        HTTPS_PROXY: proxy,
        no_proxy: "127.0.0.1,localhost,::1",
        NO_PROXY: "127.0.0.1,localhost,::1",
      },
      stdio: ["ignore", "ignore", "pipe"],
    },
  );
  live.set(child, tmp);
  installExitHook();
  let stderr = "";
  child.stderr!.on("data", (c: Buffer) => void (stderr = (stderr + c.toString()).slice(-8_000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let socketTarget: string | undefined;
  let ws: WebSocket | undefined;
  const stop = async (): Promise<void> => {
    ws?.terminate();
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      if (!(await Promise.race([exited.then(() => true), sleep(3_000).then(() => false)]))) {
        child.kill("SIGKILL");
        await exited;
      }
    }
    // The unix listener is a symlink into /tmp/codex-daemon-<uid>/ (see the harness): remove its target too.
    if (socketTarget) for (const f of [socketTarget, `${socketTarget}.lock`]) rmSync(f, { force: true });
    rmSync(tmp, { recursive: true, force: true });
    live.delete(child);
  };
  try {
    for (const deadline = Date.now() + 30_000; !ws; ) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error("exited during start-up");
      ws = await openSocket(socketPath).catch(() => undefined);
      if (!ws && Date.now() > deadline) throw new Error("did not answer a WebSocket handshake in 30 s");
      if (!ws) await sleep(50);
    }
    try {
      socketTarget = path.resolve(tmp, readlinkSync(socketPath));
    } catch {
      socketTarget = undefined;
    }
    const call = rawCaller(ws);
    await call("initialize", { clientInfo: { name: "bench-scale", version: "0" } });
    ws.send(JSON.stringify({ method: "initialized" }));
    const listAll = async (stateDbOnly = false): Promise<ListedThread[]> => {
      const all: ListedThread[] = [];
      let cursor: string | null = null;
      do {
        const params = { limit: LIST_PAGE, cursor, ...(stateDbOnly ? { useStateDbOnly: true } : {}) };
        const page = (await call("thread/list", params)) as {
          data: ListedThread[];
          nextCursor: string | null;
        };
        all.push(...page.data);
        cursor = page.nextCursor;
      } while (cursor);
      return all;
    };
    for (const deadline = Date.now() + 60_000; (await listAll()).length < threads; await sleep(200))
      if (Date.now() > deadline) throw new Error(`thread/list did not give all ${threads} seeded threads in 60 s`);
    return { pid: child.pid!, threads, listAll, stop };
  } catch (err) {
    await stop();
    throw new Error(`seeded codex app-server ${label}: ${(err as Error).message}\nstderr:\n${stderr}`, { cause: err });
  }
}

const live = new Map<ChildProcess, string>();
let exitHookInstalled = false;

/** On exit, SIGKILLs every seeded server still running and removes its temp dir (exit hooks cannot wait). */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const [child, tmp] of live) {
      child.kill("SIGKILL");
      rmSync(tmp, { recursive: true, force: true });
    }
  });
}

/** The merge a per-call `sessions list` does: every server's threads in one list, newest first. */
export function mergeListed(perServer: readonly ListedThread[][]): ListedThread[] {
  return perServer.flat().sort((a, b) => b.updatedAt - a.updatedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function openSocket(socketPath: string): Promise<WebSocket> {
  const ws = new WebSocket("ws://localhost/", { createConnection: () => net.createConnection(socketPath) });
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

/** JSON-RPC over a bare WebSocket (codex's wire: no "jsonrpc" field); rejects on an error response. */
function rawCaller(ws: WebSocket): (method: string, params: unknown) => Promise<unknown> {
  let nextId = 1;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  ws.on("message", (data: Buffer) => {
    const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
    if (msg.id === undefined) return;
    const w = waiting.get(msg.id);
    waiting.delete(msg.id);
    if (msg.error) w?.reject(new Error(msg.error.message));
    else w?.resolve(msg.result);
  });
  return (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      ws.send(JSON.stringify({ id, method, params }));
    });
}
