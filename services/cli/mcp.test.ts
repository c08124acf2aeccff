/** `claw-supervisor mcp-config` and the usage errors of `mcp`, run in process. */
import { mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { newEdgeSecret, verifyToken } from "../mcp-edge/index.js";
import { runCliInProcess } from "./test-cli.js";

const stateDir = () => mkdtempSync(path.join(os.tmpdir(), "claw-mcp-cli-"));

describe("claw-supervisor mcp-config", () => {
  it("prints the config.toml table and the codex mcp add line with the session's own token", async () => {
    const dir = stateDir();
    const secret = newEdgeSecret();
    writeFileSync(path.join(dir, "mcp-secret"), `${secret}\n`, { mode: 0o600 });
    const text = await runCliInProcess([
      "mcp-config",
      "thr-123",
      "--state-dir",
      dir,
      "--url",
      "http://127.0.0.1:9999/mcp",
    ]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain("[mcp_servers.openclaw-codex-supervisor]");
    expect(text.stdout).toContain('url = "http://127.0.0.1:9999/mcp"');
    expect(text.stdout).toContain('default_tools_approval_mode = "approve"');
    expect(text.stdout).toMatch(
      /codex mcp add openclaw-codex-supervisor --env CLAW_MCP_TOKEN=cmt1\.s\.\S+ -- claw-supervisor mcp/,
    );
    const json = await runCliInProcess(["mcp-config", "thr-123", "--state-dir", dir, "--json"]);
    const out = JSON.parse(json.stdout) as { token: string; toml: string };
    expect(verifyToken(secret, out.token)).toEqual({ kind: "session", sessionId: "thr-123" });
    expect(out.toml).toContain(`Authorization = "Bearer ${out.token}"`);
    expect(out.toml).toContain('url = "http://127.0.0.1:7411/mcp"');
  });

  it("refuses a missing session id, a bad URL and a missing secret with a clear message", async () => {
    const dir = stateDir();
    expect(await runCliInProcess(["mcp-config", "--state-dir", dir])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("needs a session id"),
    });
    expect(await runCliInProcess(["mcp-config", "thr-1", "--state-dir", dir, "--url", "ftp://x"])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--url: must be an http:// or https:// URL"),
    });
    expect(await runCliInProcess(["mcp-config", "thr-1", "--state-dir", dir])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("no MCP secret in"),
    });
  });
});

describe("claw-supervisor mcp", () => {
  it("prints its help, and needs a token", async () => {
    expect((await runCliInProcess(["mcp", "--help"])).stdout).toContain("codex mcp add openclaw-codex-supervisor");
    expect(await runCliInProcess(["mcp"], {})).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("no MCP token in $CLAW_MCP_TOKEN"),
    });
    expect(await runCliInProcess(["mcp", "--token-env", "1BAD"], {})).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--token-env: must be an environment variable name"),
    });
  });
});
