/**
 * The whole-stack fixture for end-to-end tests: a bus (nats-server, connection, streams and buckets), the
 * gateway, the registry, the fake model behind a real codex app-server, a state dir and environment for the
 * built CLI, and a host token for the one host. A test adds what it checks on top (the policy service, the
 * MCP edge, a host agent in-process or as a child, a TUI under tmux) and hands each its stop with `defer`.
 * `stop()` runs the deferred stops last-first, then stops the stack, every process by its pid.
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { pino, type Logger } from "pino";
import { startHostAgent, type HostAgent, type HostAgentOptions } from "../../services/host-agent/index.js";
import { listHosts } from "../../services/clients/registry-queries.js";
import { startRegistry, type Registry } from "../../services/registry/index.js";
import type { RegistryOptions } from "../../services/registry/registry.js";
import { createHostToken, openHostTokenBucket, startGateway, type Gateway } from "../../services/rpc-gateway/index.js";
import type { GatewayOptions } from "../../services/rpc-gateway/server.js";
import { startBus, type TestBus } from "./bus.js";
import { cliEntry, spawnCli } from "./cli-process.js";
import { codexBinPath } from "./codex-bin.js";
import { startCodexAppServer, type CodexAppServer } from "./codex-harness.js";
import { startFakeModel, type FakeModel, type FakeModelOptions } from "./fake-model.js";
import type { NatsTestServer } from "./nats-server.js";
import { startTmuxSession, type TmuxSession } from "./tmux.js";
import { until } from "./wait.js";

/** What differs between the end-to-end files. */
export interface StackOptions {
  hostId: string;
  model: FakeModelOptions;
  gateway?: Partial<GatewayOptions>;
  registry?: Partial<RegistryOptions>;
}

/** One CLI run's exit code and output. */
export interface CliResult {
  code: number | string;
  stdout: string;
  stderr: string;
}

/** A running stack; see the module comment. */
export interface Stack {
  hostId: string;
  bus: TestBus;
  nats: NatsTestServer;
  nc: TestBus["nc"];
  gateway: Gateway;
  registry: Registry;
  model: FakeModel;
  server: CodexAppServer;
  /** The environment the built CLI runs with: the app-server's, the codex binary, the state dir. */
  env: Record<string, string>;
  /** `CLAW_SUPERVISOR_STATE_DIR`, created. */
  stateDir: string;
  /** A host token for `hostId`. */
  hostToken: string;
  /** A silent logger for the services a test starts. */
  quiet: Logger;
  /** Runs `stop` when the stack stops, before the stack's own parts (last deferred, first run). */
  defer(stop: () => unknown): void;
  /** Starts the host agent in this process for `hostId` on the stack's gateway and app-server; stopped with the stack. */
  startAgent(extra?: Partial<HostAgentOptions>): Promise<HostAgent>;
  /** Resolves once the registry lists `hostId` online. */
  hostOnline(timeoutMs?: number): Promise<void>;
  /** Runs the built CLI against the stack's bus as user `erin`, with the stack's environment. */
  cli(...args: string[]): Promise<CliResult>;
  /** `claw-supervisor <args>` in a private tmux in the workspace, stopped with the stack. */
  tui(args: string[], name: string, size?: { cols: number; rows: number }): Promise<TmuxSession>;
  stop(): Promise<void>;
}

/** Starts the stack; see the module comment. */
export async function startStack(opts: StackOptions): Promise<Stack> {
  const deferred: (() => unknown)[] = [];
  const defer = (stop: () => unknown): void => void deferred.push(stop);
  const stop = async (): Promise<void> => {
    for (const step of deferred.splice(0).reverse()) await step();
  };
  try {
    const quiet = pino({ level: "silent" });
    const bus = await startBus({ ensure: {} });
    defer(() => bus.stop());
    const { nc } = bus;
    // Started in the reverse of the order they stop in: registry, gateway, app-server, model, bus.
    const model = await startFakeModel(opts.model);
    defer(() => model.stop());
    const server = await startCodexAppServer({ model, listen: "unix" });
    defer(() => server.stop());
    const gateway = await startGateway({ natsConnection: nc, port: 0, logger: quiet, ...opts.gateway });
    defer(() => gateway.stop());
    const registry = await startRegistry({ nc, ...opts.registry });
    defer(() => registry.stop());
    const stateDir = path.join(path.dirname(server.codexHome), "claw-state");
    mkdirSync(stateDir, { recursive: true });
    const env: Record<string, string> = {
      ...server.env,
      CODEX_BIN: codexBinPath(),
      CLAW_SUPERVISOR_STATE_DIR: stateDir,
    };
    const minted = await createHostToken(await openHostTokenBucket(nc, { create: true }), opts.hostId);
    const stack: Stack = {
      hostId: opts.hostId,
      bus,
      nats: bus.server,
      nc,
      gateway,
      registry,
      model,
      server,
      env,
      stateDir,
      hostToken: minted.token,
      quiet,
      defer,
      async startAgent(extra = {}) {
        const agent = await startHostAgent({
          hostId: opts.hostId,
          gatewayUrl: gateway.url,
          token: minted.token,
          stateDir,
          endpoint: server.endpoint,
          heartbeatMs: 500,
          logger: quiet,
          ...extra,
        });
        defer(() => agent.stop());
        return agent;
      },
      async hostOnline(timeoutMs = 20_000) {
        await until(
          "the host online",
          async () => (await listHosts(nc)).find((h) => h.hostId === opts.hostId && h.status === "online"),
          timeoutMs,
        );
      },
      async cli(...args) {
        const p = spawnCli([...args, "--nats-url", bus.url], { ...env, USER: "erin" });
        const code = await p.exited;
        return { code, stdout: p.stdout(), stderr: p.stderr() };
      },
      async tui(args, name, size = { cols: 140, rows: 45 }) {
        const tmux = await startTmuxSession({
          command: [process.execPath, cliEntry, ...args],
          socketPath: path.join(stateDir, `${name}.tmux`),
          cwd: server.workspace,
          env,
          ...size,
        });
        defer(() => tmux.stop().catch(() => undefined));
        return tmux;
      },
      stop,
    };
    return stack;
  } catch (err) {
    await stop();
    throw err;
  }
}
