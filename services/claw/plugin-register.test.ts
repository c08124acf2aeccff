/** `register()` in every registration mode against a fake api: it declares the same things and touches nothing. */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import entry, { registerClawSupervisor } from "./index.js";
import { fakeApi } from "./test-api.js";

const manifest = JSON.parse(readFileSync(new URL("./openclaw.plugin.json", import.meta.url), "utf8")) as {
  id: string;
  contracts: { tools: string[] };
  activation: { onStartup: boolean };
  cliCommands: { name: string }[];
  configSchema: object;
  uiHints: Record<string, unknown>;
};
const MODES = ["full", "discovery", "tool-discovery", "setup-only", "setup-runtime", "cli-metadata"];

describe("the plugin's registration", () => {
  it("is the plugin claw-supervisor (not the retired codex-supervisor), started at gateway start", () => {
    expect(entry.id).toBe("claw-supervisor");
    expect(manifest.id).toBe("claw-supervisor");
    expect(manifest.activation.onStartup).toBe(true);
    expect(manifest.cliCommands.map((c) => c.name)).toEqual(["claw-supervisor"]);
    expect(Object.keys(manifest.uiHints)).toEqual(expect.arrayContaining(["natsUrl", "natsPassword", "mode"]));
  });

  for (const mode of MODES) {
    it(`in ${mode} mode declares every tool of contracts.tools, the service, the method, the CLI and the heartbeat hook, and starts nothing`, () => {
      const api = fakeApi(mode);
      entry.register(api as never);
      expect(api.tools.map((t) => t.name).sort()).toEqual([...manifest.contracts.tools].sort());
      for (const t of api.tools) {
        expect(t.name.startsWith("fleet_"), t.name).toBe(true);
        expect(t.description.length, t.name).toBeGreaterThan(60);
        expect((t.parameters as { type?: string }).type, t.name).toBe("object");
      }
      expect(api.services.map((s) => s.id)).toEqual(["claw-supervisor-fleet"]);
      expect([...api.methods.keys()]).toEqual(["clawSupervisor.status"]);
      expect([...api.hooks.keys()]).toEqual(["heartbeat_prompt_contribution"]);
      expect(api.cli).toHaveLength(1);
      expect(api.runtimeTouched).toBe(0);
    });
  }

  it("registering twice in one process gives two independent sets (no shared state)", async () => {
    const a = fakeApi("full");
    const b = fakeApi("discovery");
    registerClawSupervisor(a);
    registerClawSupervisor(b);
    let payload: unknown;
    await a.methods.get("clawSupervisor.status")!({ respond: (_ok, p) => void (payload = p) });
    expect(payload).toMatchObject({ state: "stopped" });
  });

  it("before the service started, a tool fails with what to check", async () => {
    const api = fakeApi("full");
    registerClawSupervisor(api);
    const sessions = api.tools.find((t) => t.name === "fleet_sessions")!;
    await expect(sessions.execute("call-1", {})).rejects.toThrow(
      /not connected to the supervisor's bus.*claw-supervisor status/,
    );
  });

  it("refuses a bad config naming the field", () => {
    expect(() => registerClawSupervisor(fakeApi("full", { mode: "everywhere" }))).toThrow(
      /plugins\.entries\.claw-supervisor\.config.*mode/,
    );
    expect(() => registerClawSupervisor(fakeApi("full", { clawId: "a b" }))).toThrow(/clawId/);
  });
});
