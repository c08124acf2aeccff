import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defaultHostId, loadHostAgentConfigFile, parseHostAgentConfig, resolveHostAgentConfig } from "./config.js";

const tmp = mkdtempSync(path.join(os.tmpdir(), "host-agent-config-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("host agent config", () => {
  it("reads a file, resolving its relative paths against the file's folder", async () => {
    const file = path.join(tmp, "agent.json");
    writeFileSync(
      file,
      JSON.stringify({
        hostId: "build-01",
        gatewayUrl: "wss://gw.example/agent",
        tokenFile: "token",
        buffer: { maxEvents: 10 },
      }),
    );
    expect(await loadHostAgentConfigFile(file)).toEqual({
      hostId: "build-01",
      gatewayUrl: "wss://gw.example/agent",
      tokenFile: path.join(tmp, "token"),
      buffer: { maxEvents: 10 },
    });
  });

  it("names the file and field of every problem", async () => {
    expect(() =>
      parseHostAgentConfig({ hostId: "a.b", gatewayUrl: "http://x", heartbeatMs: 0, extra: 1 }, "f.json", "/"),
    ).toThrow(
      /^f\.json: .*hostId: must be letters.*gatewayUrl: must be a ws:\/\/ or wss:\/\/ URL.*heartbeatMs: must be greater than 0/,
    );
    expect(() => parseHostAgentConfig({ extra: 1 }, "f.json", "/")).toThrow(/Unrecognized key.*extra/);
    const bad = path.join(tmp, "bad.json");
    writeFileSync(bad, "{ not json");
    await expect(loadHostAgentConfigFile(bad)).rejects.toThrow(/bad\.json is not valid JSON/);
    await expect(loadHostAgentConfigFile(path.join(tmp, "missing.json"))).rejects.toThrow(
      /cannot read the config file/,
    );
  });

  it("lets flags override the file, fills defaults, and says what is missing", () => {
    const resolved = resolveHostAgentConfig(
      { hostId: "from-file", gatewayUrl: "ws://127.0.0.1:1/a", tokenFile: "/t", heartbeatMs: 5 },
      { hostId: "from-flag", endpoint: "unix:///s.sock" },
      { stateDir: "/state", hostname: "ignored" },
    );
    expect(resolved).toEqual({
      hostId: "from-flag",
      gatewayUrl: "ws://127.0.0.1:1/a",
      tokenFile: "/t",
      endpoint: "unix:///s.sock",
      stateDir: "/state",
      heartbeatMs: 5,
      logLevel: "info",
    });
    expect(
      resolveHostAgentConfig(
        { gatewayUrl: "ws://h/", tokenFile: "/t" },
        {},
        { stateDir: "/s", hostname: "build-7.lab.example" },
      ).hostId,
    ).toBe("build-7");
    expect(() => resolveHostAgentConfig({}, {}, { stateDir: "/s" })).toThrow(
      /missing the gateway URL .* and the host token file/,
    );
    expect(() => resolveHostAgentConfig({}, { gatewayUrl: "nope", tokenFile: "/t" }, { stateDir: "/s" })).toThrow(
      /^--gateway: must be a ws/,
    );
  });

  it("takes idleUnloadMs as 0 (never) or more whole milliseconds", () => {
    expect(parseHostAgentConfig({ idleUnloadMs: 0 }, "f.json", "/")).toEqual({ idleUnloadMs: 0 });
    expect(parseHostAgentConfig({ idleUnloadMs: 60_000 }, "f.json", "/")).toEqual({ idleUnloadMs: 60_000 });
    expect(() => parseHostAgentConfig({ idleUnloadMs: -1 }, "f.json", "/")).toThrow(
      /idleUnloadMs: must be 0 \(never\) or more/,
    );
    expect(() => parseHostAgentConfig({ idleUnloadMs: 1.5 }, "f.json", "/")).toThrow(/idleUnloadMs: must be a whole/);
  });

  it("derives a subject-safe host id from the host name", () => {
    expect(defaultHostId("my host.local")).toBe("my-host");
    expect(defaultHostId("")).toBe("host");
  });
});
