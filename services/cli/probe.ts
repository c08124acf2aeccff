/** `claw-supervisor probe [endpoint]`: is there a Codex app-server here, and which threads does it hold? */
import type { z } from "zod";
import type { InitializeResult, Thread, ThreadStatus } from "../../schemas/codex/index.js";
import { noisyNotificationMethods } from "../../schemas/codex/index.js";
import {
  connectCodex,
  describeEndpoint,
  isCodexRpcError,
  parseEndpoint,
  type CodexRpcClient,
  type Endpoint,
} from "../codex-rpc/index.js";
import { Milliseconds, optionValue, parseCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { jsonOk } from "./output.js";
import { VERSION } from "../clients/version.js";

/** One loaded thread as the probe reports it; `status` is "unknown" when the thread could not be read. */
export interface ProbedThread {
  id: string;
  status: ThreadStatus["type"] | "unknown";
  activeFlags: string[];
  ephemeral: boolean | null;
  cwd: string | null;
  name: string | null;
  preview: string | null;
  updatedAt: number | null;
  error?: string;
}

/** What `probe --json` prints. */
export interface ProbeReport {
  endpoint: string;
  server: z.infer<typeof InitializeResult>;
  threads: ProbedThread[];
}

const MAX_PAGES = 50;

const usage = `Usage: claw-supervisor probe [ENDPOINT] [--json] [--timeout MS] [--token-env VAR]

Connects to a Codex app-server, prints what initialize returns and every loaded thread with its status.

ENDPOINT      unix:// (this user's daemon socket, the default), unix://PATH, ws://HOST:PORT,
              wss://HOST:PORT, or stdio:COMMAND
--json        print {"ok":true,"data":report} instead of text (times as ISO-8601 strings)
--timeout MS  give up on connecting or on any call after MS milliseconds (default 5000)
--token-env VAR  send the bearer token held in environment variable VAR (ws:// and wss:// only)

Exits 0 when the endpoint answered, 1 with a one-line reason when it is unreachable or not an app-server,
2 on a usage error.`;

/** Connects, initializes and lists the loaded threads; throws CliError with a one-line reason. */
export async function probeEndpoint(endpoint: Endpoint, timeoutMs: number): Promise<ProbeReport> {
  const where = describeEndpoint(endpoint);
  let client: CodexRpcClient;
  try {
    client = await connectCodex(endpoint, { connectTimeoutMs: timeoutMs, requestTimeoutMs: timeoutMs });
  } catch (err) {
    throw new CliError(`cannot reach ${where}: ${reason(err)}`);
  }
  try {
    let server: z.infer<typeof InitializeResult>;
    try {
      server = await client.initialize({
        clientInfo: { name: "claw-supervisor-probe", title: "Claw Supervisor probe", version: VERSION },
        optOutNotificationMethods: noisyNotificationMethods,
      });
    } catch (err) {
      throw new CliError(`${where} is not a Codex app-server: ${reason(err)}`);
    }
    const threads: ProbedThread[] = [];
    for (const id of await loadedThreadIds(client, where)) threads.push(await readThread(client, id));
    return { endpoint: where, server, threads };
  } finally {
    client.close();
  }
}

async function loadedThreadIds(client: CodexRpcClient, where: string): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    try {
      const result = await client.request("thread/loaded/list", { cursor: cursor ?? null, limit: 200 });
      ids.push(...result.data);
      cursor = result.nextCursor;
    } catch (err) {
      throw new CliError(`${where} answered initialize but not thread/loaded/list: ${reason(err)}`);
    }
    if (!cursor) break;
  }
  return ids;
}

async function readThread(client: CodexRpcClient, id: string): Promise<ProbedThread> {
  try {
    const { thread } = await client.request("thread/read", { threadId: id });
    return describeThread(thread);
  } catch (err) {
    return {
      id,
      status: "unknown",
      activeFlags: [],
      ephemeral: null,
      cwd: null,
      name: null,
      preview: null,
      updatedAt: null,
      error: reason(err),
    };
  }
}

function describeThread(thread: Thread): ProbedThread {
  return {
    id: thread.id,
    status: thread.status.type,
    activeFlags: thread.status.type === "active" ? thread.status.activeFlags : [],
    ephemeral: thread.ephemeral,
    cwd: thread.cwd,
    name: thread.name ?? null,
    preview: thread.preview,
    updatedAt: thread.updatedAt,
  };
}

function reason(err: unknown): string {
  if (isCodexRpcError(err) && err.code === "rpc_error") return `${err.rpcMessage} (${err.rpcCode})`;
  if (isCodexRpcError(err) && err.code === "closed" && err.cause instanceof Error) return err.cause.message;
  return err instanceof Error ? err.message : String(err);
}

function statusText(t: ProbedThread): string {
  if (t.status === "active" && t.activeFlags.length) return `active (${t.activeFlags.join(", ")})`;
  return t.status;
}

const oneLine = (text: string | null, max: number): string => {
  const flat = (text ?? "").replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** Renders a report for people. */
export function formatProbeReport(report: ProbeReport): string {
  const lines = [
    `Codex app-server at ${report.endpoint}`,
    `  ${report.server.userAgent} (${report.server.platformOs}), CODEX_HOME ${report.server.codexHome}`,
  ];
  const ephemeral = report.threads.filter((t) => t.ephemeral).length;
  lines.push(
    `  ${report.threads.length} loaded thread${report.threads.length === 1 ? "" : "s"}${ephemeral ? ` (${ephemeral} ephemeral)` : ""}`,
  );
  for (const t of report.threads) {
    const flags = t.ephemeral ? " [ephemeral]" : "";
    const detail = t.error
      ? `could not read: ${t.error}`
      : `${t.cwd ?? ""}  ${JSON.stringify(oneLine(t.name || t.preview, 60))}`;
    lines.push(`  ${t.id}  ${statusText(t).padEnd(22)} ${detail}${flags}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The `probe` command. */
export const probeCommand: Command = {
  name: "probe",
  summary: "check an app-server endpoint and list its loaded threads",
  usage,
  options: ["json", "timeout", "token-env"],
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("probe", argv, {
      json: { type: "boolean" },
      timeout: { type: "string" },
      "token-env": { type: "string" },
    });
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    if (positionals.length > 1)
      throw new CliError(`probe takes one endpoint, got ${positionals.length}. See 'claw-supervisor probe --help'.`, 2);
    const timeoutMs = optionValue("timeout", Milliseconds, values.timeout ?? "5000");
    let bearerToken: string | undefined;
    if (values["token-env"]) {
      bearerToken = io.env[values["token-env"]];
      if (!bearerToken) throw new CliError(`--token-env: environment variable ${values["token-env"]} is not set`, 2);
    }
    let endpoint: Endpoint;
    try {
      endpoint = parseEndpoint(positionals[0] ?? "unix://", { env: io.env, ...(bearerToken ? { bearerToken } : {}) });
    } catch (err) {
      throw new CliError((err as Error).message, 2);
    }
    const report = await probeEndpoint(endpoint, timeoutMs);
    io.stdout(values.json ? jsonOk(report) : formatProbeReport(report));
    return 0;
  },
};
