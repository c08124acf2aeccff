/**
 * The OpenClaw plugin `claw-supervisor`. `register()` only declares things (it runs several times per
 * process, in every registration mode): the fleet tools, the service that connects to the bus, the heartbeat
 * summary, the gateway method `clawSupervisor.status` and the CLI `openclaw claw-supervisor status`. Nothing
 * connects or starts before the service's `start`.
 */
import { definePluginEntry } from "openclaw/plugin-sdk/plugin-entry";
import { clawCaller } from "./claw-caller.js";
import { parsePluginConfig, type ClawPluginConfig } from "./config.js";
import { consumerNames } from "./fleet-consumers.js";
import { FleetService, type SystemEventSink } from "./fleet-service.js";
import { cliStatus, formatStatus, heartbeatSummary, statusPayload } from "./status.js";
import { fleetTools } from "./tools.js";

/** The plugin id (`codex-supervisor` is retired in OpenClaw: `openclaw doctor --fix` deletes its entry). */
export const PLUGIN_ID = "claw-supervisor";

/** The part of OpenClaw's plugin api this plugin uses (a test can pass a small fake). */
export interface ClawPluginApi {
  registrationMode: string;
  pluginConfig?: Record<string, unknown>;
  runtime: { system: SystemEventSink };
  logger: { info(msg: string): void; warn(msg: string): void; error(msg: string): void };
  registerTool(tool: unknown, opts?: unknown): void;
  registerService(service: {
    id: string;
    start(ctx: { stateDir: string }): Promise<void>;
    stop?(ctx: unknown): Promise<void>;
  }): void;
  registerGatewayMethod(
    method: string,
    handler: (o: { respond: (ok: boolean, payload?: unknown, error?: unknown) => void }) => void | Promise<void>,
    opts?: unknown,
  ): void;
  registerCli(registrar: (ctx: { program: CliProgram }) => void, opts?: unknown): void;
  on(hook: string, handler: (...args: never[]) => unknown): void;
}

/** The slice of commander's `Command` the CLI uses. */
export interface CliProgram {
  command(name: string): CliProgram;
  description(text: string): CliProgram;
  action(fn: () => Promise<void> | void): CliProgram;
}

/** Registers everything on `api`; free of side effects. */
export function registerClawSupervisor(api: ClawPluginApi): void {
  const config: ClawPluginConfig = parsePluginConfig(api.pluginConfig);
  let service: FleetService | null = null;
  const nc = () => service?.connection() ?? null;
  const caller = clawCaller(nc, config.clawId, undefined, () => service?.leases() ?? null);

  for (const tool of fleetTools({
    caller,
    nc,
    inboxConsumer: consumerNames(config.clawId).inbox,
    route: (event, key) => service?.route(event, key) ?? Promise.resolve("deliver"),
    acting: () => service?.leases().acting() ?? true,
  }))
    api.registerTool(tool);

  api.registerService({
    id: "claw-supervisor-fleet",
    async start(ctx) {
      service = new FleetService(config, () => api.runtime.system, api.logger);
      await service.start(ctx.stateDir);
    },
    async stop() {
      await service?.stop();
      service = null;
    },
  });

  api.on("heartbeat_prompt_contribution", async () => {
    if (!service?.connection()) return undefined;
    const text = await heartbeatSummary(caller, config.summaryMaxChars).catch((err: Error) => {
      api.logger.warn(`claw-supervisor: no fleet summary for this heartbeat: ${err.message}`);
      return null;
    });
    return text ? { appendContext: text } : undefined;
  });

  api.registerGatewayMethod("clawSupervisor.status", ({ respond }) => respond(true, statusPayload(service)), {
    scope: "operator.read",
  });

  api.registerCli(
    ({ program }) => {
      const root = program.command("claw-supervisor").description("Claw Supervisor: the fleet connection");
      root
        .command("status")
        .description(
          "Whether the supervisor's bus is reachable with this plugin's config, and what waits in the Claw's fleet consumers",
        )
        .action(async () => {
          const stateDir =
            process.env.OPENCLAW_STATE_DIR ?? `${process.env.OPENCLAW_HOME ?? process.env.HOME ?? "."}/.openclaw`;
          console.log(await cliStatus(config, stateDir));
        });
    },
    {
      descriptors: [
        {
          name: "claw-supervisor",
          description: "Claw Supervisor: the fleet connection's status",
          hasSubcommands: true,
        },
      ],
    },
  );
}

export { formatStatus };

export default definePluginEntry({
  id: PLUGIN_ID,
  name: "Claw Supervisor",
  description:
    "See and drive a fleet of Codex sessions: fleet_* tools, and fleet events and summaries in the agent's context.",
  register: (api) => registerClawSupervisor(api as unknown as ClawPluginApi),
});
