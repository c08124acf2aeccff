/**
 * bench/dashboard.ts's stack beyond bench/ingest-rig.ts: the dashboard server in its own process, an operator
 * minted through `codex.admin.operator.add` as `claw-supervisor operator add` does (only the token id and the
 * SHA-256 of the whole token cross the bus), signing in over HTTP, the server's snapshot read over the one
 * WebSocket as a page reads it, and the registry's list of every session over the bus, timed.
 */
import { fork } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import WebSocket from "ws";
import { OperatorAddResult } from "../schemas/admin-operators.js";
import { ServerMessage } from "../schemas/dashboard.js";
import { requestAdmin } from "../services/clients/admin-request.js";
import { mintOperatorToken } from "../services/clients/operator-auth.js";
import { listAllSessions } from "../services/clients/registry-queries.js";
import { cpuSeconds } from "./ingest-rig.js";
import { type LoadHost, syncedPayload } from "./load-host.js";

/** The dashboard server process: its URL (also the Origin it accepts) and pid. */
export interface DashboardProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Forks bench/dashboard-process.ts serving `webDir`; resolves when it listens. BENCH_PROFILE_DIR adds a CPU profile. */
export async function startDashboardProcess(natsUrl: string, webDir: string): Promise<DashboardProcess> {
  const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "dashboard-process.js");
  const child = fork(script, [natsUrl, webDir], {
    execArgv: process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [],
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  let log = "";
  child.stderr!.on("data", (c: Buffer) => void (log = (log + c.toString()).slice(-4_000)));
  const { url } = await new Promise<{ url: string }>((resolve, reject) => {
    child.once("message", (m) => resolve(m as { url: string }));
    child.once("exit", (code) => reject(new Error(`the dashboard process exited with ${code}:\n${log}`)));
  });
  return {
    url,
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.send("stop");
      await exited;
    },
  };
}

/** Mints an operator token and registers it with the policy service, as `operator add` does; resolves with the token. */
export async function addOperator(nc: NatsConnection, name: string, role: "operator" | "viewer"): Promise<string> {
  const { token, tokenId, sha256 } = mintOperatorToken();
  const answer = await requestAdmin(
    nc,
    "operator",
    "add",
    { caller: { role: "operator", id: "bench" }, name, role, tokenId, sha256 },
    OperatorAddResult,
    10_000,
  );
  if (!answer.ok) throw new Error(`operator add got no answer: ${answer.reason}`);
  if (!answer.reply.ok) throw new Error(`operator add refused: ${answer.reply.code}: ${answer.reply.message}`);
  return token;
}

/** `POST /api/signin`; resolves with the session cookie (`claw_session=…`) the server set and the session's key. */
export async function signIn(url: string, token: string): Promise<{ name: string; value: string; key: string }> {
  const res = await fetch(`${url}/api/signin`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: url },
    body: JSON.stringify({ token }),
  });
  if (!res.ok) throw new Error(`sign-in answered ${res.status}: ${await res.text()}`);
  const pair = res.headers
    .getSetCookie()
    .map((c) => c.split(";")[0]!)
    .find((c) => c.startsWith("claw_session="));
  if (!pair) throw new Error("sign-in set no claw_session cookie");
  const key = ((await res.json()) as { data?: { key?: unknown } }).data?.key;
  if (typeof key !== "string") throw new Error("sign-in answered no session key");
  return { name: "claw_session", value: pair.slice("claw_session=".length), key };
}

/** `[key, revision]` pairs sorted by key (code units), as `__clawView()` gives them. */
export const byKey = (pairs: [string, number][]): [string, number][] =>
  [...pairs].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

/** A snapshot as the server sends it to a new tab: how long it took after `hello`, its size, its sessions. */
export interface ServerSnapshot {
  ms: number;
  bytes: number;
  sessions: [string, number][];
}

/** Opens `/ws` with the cookie, says `hello {since: null, key}` and resolves with the snapshot. */
export function readSnapshot(url: string, cookie: string, key: string): Promise<ServerSnapshot> {
  const ws = new WebSocket(`${url.replace(/^http/, "ws")}/ws`, { headers: { origin: url, cookie } });
  return new Promise((resolve, reject) => {
    let sentAt = 0;
    ws.once("open", () => {
      sentAt = performance.now();
      ws.send(JSON.stringify({ type: "hello", since: null, key }));
    });
    ws.on("message", (data: Buffer) => {
      const text = data.toString();
      const msg = ServerMessage.parse(JSON.parse(text));
      if (msg.type === "bye") reject(new Error(`the server said bye: ${msg.code}: ${msg.message}`));
      if (msg.type !== "snapshot") return;
      const sessions = msg.sessions.map((r): [string, number] => [r.key, r.revision]);
      resolve({ ms: performance.now() - sentAt, bytes: Buffer.byteLength(text), sessions: byKey(sessions) });
      ws.close();
    });
    ws.once("error", reject);
    ws.once("close", (code) => reject(new Error(`the WebSocket closed (${code}) before a snapshot`)));
  });
}

/** Times the registry's list of every session over the bus `times` times (ms each); checks the count. */
export async function timeRegistryList(nc: NatsConnection, expected: number, times: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const t0 = performance.now();
    const { sessions } = await listAllSessions(nc, {}, Infinity, 30_000);
    ms.push(performance.now() - t0);
    if (sessions.length !== expected) throw new Error(`the registry listed ${sessions.length} of ${expected} sessions`);
  }
  return ms;
}

/** The thread ids of `perHost` sessions on host `hostId`. */
export const threadIds = (hostId: string, perHost: number): string[] =>
  Array.from({ length: perHost }, (_, i) => `${hostId}-s${String(i).padStart(4, "0")}`);

/** Announces every host's sessions (`agent/thread.synced`), acked by the gateway. */
export async function createFleet(hosts: LoadHost[], perHost: number): Promise<void> {
  await Promise.all(
    hosts.map(async (h) => {
      for (const t of threadIds(h.hostId, perHost)) void h.send(t, "agent/thread.synced", syncedPayload(t, h.hostId));
      await h.drain();
    }),
  );
}

/** CPU seconds used so far by every process whose command line names `marker` (Chromium's profile dir). */
export function cpuSecondsOfProcessesNaming(marker: string): number {
  let total = 0;
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(marker)) total += cpuSeconds(Number(pid));
    } catch {
      // the process ended while we looked
    }
  }
  return total;
}
