/** A small fake of OpenClaw's plugin api (tests only): records what `register()` declares, in any registration mode. */
import type { ClawPluginApi } from "./index.js";
import type { FleetTool } from "./tools.js";

export interface FakeApi extends ClawPluginApi {
  tools: FleetTool[];
  services: { id: string; start(ctx: { stateDir: string }): Promise<void>; stop?(ctx: unknown): Promise<void> }[];
  methods: Map<string, (o: { respond: (ok: boolean, payload?: unknown) => void }) => void | Promise<void>>;
  hooks: Map<string, (...args: never[]) => unknown>;
  cli: ((ctx: { program: never }) => void)[];
  systemEvents: { text: string; sessionKey: string; contextKey?: string }[];
  heartbeats: unknown[];
  runtimeTouched: number;
}

/** The fake; in `cli-metadata` mode touching `runtime` throws, as OpenClaw's does. */
export function fakeApi(registrationMode: string, pluginConfig: Record<string, unknown> = {}): FakeApi {
  const systemEvents: FakeApi["systemEvents"] = [];
  const seen = new Set<string>();
  const system = {
    enqueueSystemEvent(text: string, o: { sessionKey: string; contextKey?: string }) {
      const key = `${o.sessionKey}|${o.contextKey ?? text}`;
      if (seen.has(key)) return false;
      seen.add(key);
      systemEvents.push({ text, ...o });
      return true;
    },
    requestHeartbeat(r: unknown) {
      api.heartbeats.push(r);
    },
  };
  const api: FakeApi = {
    registrationMode,
    pluginConfig,
    get runtime() {
      api.runtimeTouched++;
      if (registrationMode === "cli-metadata")
        throw new Error("api.runtime is not available during cli-metadata registration");
      return { system };
    },
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
    tools: [],
    services: [],
    methods: new Map(),
    hooks: new Map(),
    cli: [],
    systemEvents,
    heartbeats: [],
    runtimeTouched: 0,
    registerTool: (tool) => void api.tools.push(tool as FleetTool),
    registerService: (s) => void api.services.push(s),
    registerGatewayMethod: (m, h) => void api.methods.set(m, h),
    registerCli: (r) => void api.cli.push(r as never),
    on: (hook, h) => void api.hooks.set(hook, h),
  };
  return api;
}
