/** The host agent config's gateway list: one URL or several, from the file or the flags. */
import { describe, expect, it } from "vitest";
import { parseHostAgentConfig, resolveHostAgentConfig } from "./config.js";

describe("gateway URLs in the host agent config", () => {
  it("takes one URL or a list; flags replace the file's; a one-URL list is that URL", () => {
    const file = parseHostAgentConfig({ gatewayUrl: ["ws://a/", "wss://b/"], tokenFile: "t" }, "f.json", "/etc");
    expect(resolveHostAgentConfig(file, {}, { stateDir: "/s" }).gatewayUrl).toEqual(["ws://a/", "wss://b/"]);
    expect(resolveHostAgentConfig(file, { gatewayUrl: ["ws://c/"] }, { stateDir: "/s" }).gatewayUrl).toBe("ws://c/");
    expect(resolveHostAgentConfig(file, { gatewayUrl: "ws://d/" }, { stateDir: "/s" }).gatewayUrl).toBe("ws://d/");
  });

  it("names the bad entry of a list, and refuses an empty one", () => {
    expect(() => parseHostAgentConfig({ gatewayUrl: ["ws://a/", "http://b/"] }, "f.json", "/")).toThrow(
      /^f\.json: gatewayUrl\.1: must be a ws:\/\/ or wss:\/\/ URL/,
    );
    expect(() => parseHostAgentConfig({ gatewayUrl: [] }, "f.json", "/")).toThrow(/^f\.json: gatewayUrl/);
    expect(() =>
      resolveHostAgentConfig({}, { gatewayUrl: ["ws://a/", "nope"], tokenFile: "/t" }, { stateDir: "/s" }),
    ).toThrow(/^--gateway: /);
  });
});
