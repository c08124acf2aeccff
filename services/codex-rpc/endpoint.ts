/** Parsing of app-server endpoint addresses: `unix://`, `unix://PATH`, `ws://`, `wss://`, `stdio:COMMAND`. */
import os from "node:os";
import path from "node:path";
import { z } from "zod";

/** Where an app-server listens, resolved to something a transport can open. */
export type Endpoint =
  | { kind: "unix"; socketPath: string }
  | { kind: "ws"; url: string; bearerToken?: string }
  | { kind: "stdio"; command: string; args: string[]; env?: Record<string, string> };

/** The daemon's control socket: `$CODEX_HOME/app-server-control/app-server-control.sock`. */
export function daemonSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const codexHome = env.CODEX_HOME || path.join(env.HOME || os.homedir(), ".codex");
  return path.join(codexHome, "app-server-control", "app-server-control.sock");
}

const EndpointText = z
  .string()
  .trim()
  .min(
    1,
    "an endpoint is required, e.g. unix://, unix:///path/app.sock, ws://127.0.0.1:4500 or stdio:codex app-server",
  );

/**
 * Parses an endpoint address. `unix://` alone means the local daemon's socket (see daemonSocketPath);
 * `unix://PATH` a given socket (relative paths resolve against the working directory); `stdio:CMD ARGS`
 * spawns a command and speaks newline-delimited JSON on its stdio. Throws an Error naming what was wrong.
 */
export function parseEndpoint(text: string, opts: { bearerToken?: string; env?: NodeJS.ProcessEnv } = {}): Endpoint {
  const raw = EndpointText.parse(text);
  if (raw.startsWith("unix://")) {
    const rest = raw.slice("unix://".length);
    return { kind: "unix", socketPath: rest === "" ? daemonSocketPath(opts.env) : path.resolve(rest) };
  }
  if (raw.startsWith("ws://") || raw.startsWith("wss://")) {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error(`"${raw}" is not a valid WebSocket URL`);
    }
    return opts.bearerToken
      ? { kind: "ws", url: url.href, bearerToken: opts.bearerToken }
      : { kind: "ws", url: url.href };
  }
  if (raw.startsWith("stdio:")) {
    const [command, ...args] = raw.slice("stdio:".length).trim().split(/\s+/).filter(Boolean);
    if (!command) throw new Error(`"${raw}" names no command: use stdio:codex app-server`);
    return { kind: "stdio", command, args };
  }
  throw new Error(
    `unsupported endpoint "${raw}": use unix:// (the local daemon), unix://PATH, ws://HOST:PORT, wss://HOST:PORT or stdio:COMMAND`,
  );
}

/** A short human-readable form of an endpoint, for logs and CLI output. */
export function describeEndpoint(endpoint: Endpoint): string {
  switch (endpoint.kind) {
    case "unix":
      return `unix://${endpoint.socketPath}`;
    case "ws":
      return endpoint.url;
    case "stdio":
      return `stdio:${[endpoint.command, ...endpoint.args].join(" ")}`;
  }
}
