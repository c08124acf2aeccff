/** The host-side deploy files: the SSH login wrapper's dispatch and the example agent config. */
import { execFile } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parseHostAgentConfig } from "./config.js";

const deploy = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "deploy");
const tmp = mkdtempSync(path.join(os.tmpdir(), "claw-launch-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Runs deploy/ssh/claw-launch with a stand-in claw-supervisor that prints its arguments. */
async function login(request: string | undefined, extraEnv: Record<string, string> = {}) {
  const fake = path.join(tmp, "claw-supervisor");
  writeFileSync(fake, '#!/bin/sh\necho "claw-supervisor $*"\n');
  chmodSync(fake, 0o755);
  const env: Record<string, string> = {
    PATH: "/usr/bin:/bin",
    HOME: "/home/alice",
    CLAW_SUPERVISOR_BIN: fake,
    ...extraEnv,
  };
  if (request !== undefined) env.SSH_ORIGINAL_COMMAND = request;
  try {
    const { stdout, stderr } = await promisify(execFile)(path.join(deploy, "ssh", "claw-launch"), [], { env });
    return { code: 0, stdout: stdout.trim(), stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout.trim(), stderr: e.stderr };
  }
}

describe("deploy/ssh/claw-launch", () => {
  it("launches the TUI for a plain login, in CLAW_WORKSPACE when set", async () => {
    expect((await login(undefined)).stdout).toBe("claw-supervisor launch --cd /home/alice");
    expect((await login("", { CLAW_WORKSPACE: "/srv/repo" })).stdout).toBe("claw-supervisor launch --cd /srv/repo");
  });

  it("resumes a thread by id and refuses anything that is not one", async () => {
    expect((await login("resume 01a210e6-e02e-7c51")).stdout).toBe(
      "claw-supervisor launch --resume 01a210e6-e02e-7c51",
    );
    const bad = await login("resume x;rm -rf /");
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("is not a thread id");
  });

  it("refuses other commands unless CLAW_ALLOW_COMMANDS=1", async () => {
    const refused = await login("git-upload-pack 'repo.git'");
    expect(refused).toMatchObject({ code: 2, stdout: "" });
    expect(refused.stderr).toContain("this login only runs the Codex TUI");
    expect((await login("echo allowed", { CLAW_ALLOW_COMMANDS: "1" })).stdout).toBe("allowed");
  });
});

describe("deploy/systemd/host-agent.example.json", () => {
  it("is a valid host agent config", () => {
    const text = readFileSync(path.join(deploy, "systemd", "host-agent.example.json"), "utf8");
    expect(parseHostAgentConfig(JSON.parse(text), "example", "/etc/claw")).toMatchObject({
      hostId: "build-01",
      tokenFile: "/etc/claw/host-token",
    });
  });
});
