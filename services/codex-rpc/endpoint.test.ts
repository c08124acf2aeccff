import { describe, expect, it } from "vitest";
import { daemonSocketPath, describeEndpoint, parseEndpoint } from "./endpoint.js";

describe("parseEndpoint", () => {
  it("reads unix:// as the daemon's control socket under CODEX_HOME", () => {
    expect(parseEndpoint("unix://", { env: { CODEX_HOME: "/srv/codex" } })).toEqual({
      kind: "unix",
      socketPath: "/srv/codex/app-server-control/app-server-control.sock",
    });
    expect(daemonSocketPath({ HOME: "/home/ann" })).toBe("/home/ann/.codex/app-server-control/app-server-control.sock");
  });

  it("reads unix://PATH, ws:// with a token, and stdio:COMMAND", () => {
    expect(parseEndpoint("unix:///tmp/x/app.sock")).toEqual({ kind: "unix", socketPath: "/tmp/x/app.sock" });
    expect(parseEndpoint("ws://127.0.0.1:4500", { bearerToken: "t" })).toEqual({
      kind: "ws",
      url: "ws://127.0.0.1:4500/",
      bearerToken: "t",
    });
    expect(parseEndpoint("stdio:codex app-server --listen stdio://")).toEqual({
      kind: "stdio",
      command: "codex",
      args: ["app-server", "--listen", "stdio://"],
    });
    expect(describeEndpoint(parseEndpoint("unix:///a.sock"))).toBe("unix:///a.sock");
  });

  it("says what is wrong with a bad endpoint", () => {
    expect(() => parseEndpoint("http://x")).toThrow('unsupported endpoint "http://x": use unix://');
    expect(() => parseEndpoint("ws://")).toThrow("is not a valid WebSocket URL");
    expect(() => parseEndpoint("stdio:")).toThrow("names no command");
    expect(() => parseEndpoint("  ")).toThrow("an endpoint is required");
  });
});
