// `claw-supervisor operator`: its arguments are checked before anything touches the bus (exit 2, no bus needed),
// and with no policy service answering it says so (exit 8). The policy side, with a real nats-server and the
// bus users' permissions, is in services/policy/admin-operators.test.ts.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { runCliInProcess } from "./test-cli.js";

let home: string;
beforeAll(async () => {
  home = await mkdtemp(path.join(tmpdir(), "operator-cli-"));
});
afterAll(async () => {
  if (home) await rm(home, { recursive: true, force: true });
});

/** The CLI with a state dir where no `up` runs and no NATS_URL: a bus is never found. */
const noBus = (...args: string[]) =>
  runCliInProcess(args, { HOME: home, USER: "tester", CLAW_SUPERVISOR_STATE_DIR: path.join(home, "state") });

describe("claw-supervisor operator: arguments", () => {
  it("prints its help", async () => {
    const r = await noBus("operator", "--help");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("operator add <name> --role operator|viewer");
  });

  it.each([
    [["operator"], /operator needs an action: add, list or revoke/],
    [["operator", "ad", "alice"], /unknown operator action 'ad' \(did you mean 'add'\?\)/],
    [["operator", "add", "alice"], /operator add needs --role operator or --role viewer/],
    [["operator", "add", "alice", "--role", "admin"], /invalid --role "admin"/],
    [["operator", "add", "Alice", "--role", "viewer"], /invalid operator name "Alice": must be 1 to 64 lowercase/],
    [["operator", "add", `a${"b".repeat(64)}`, "--role", "viewer"], /invalid operator name/],
    [["operator", "add", "-x", "--role", "viewer"], /Unknown option '-x'/],
    [["operator", "add", "alice", "bob", "--role", "viewer"], /operator add takes exactly one name, got 2/],
    [["operator", "list", "alice"], /operator list takes no arguments, got 'alice'/],
    [["operator", "revoke", "alice", "--token", "xyz"], /invalid --token id "xyz": must be 16 lowercase hex digits/],
    [["operator", "revoke", "alice", "--role", "viewer"], /--role applies to 'operator add' only/],
    [["operator", "list", "--token", "0123456789abcdef"], /--token applies to 'operator revoke' only/],
  ])("refuses %j with exit 2 before looking for a bus", async (args, message) => {
    const r = await noBus(...args);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toContain("no running 'claw-supervisor up'");
    expect(r.code).toBe(2);
  });

  it("answers a usage error with --json as the CLI's one failure shape", async () => {
    const r = await noBus("operator", "add", "alice", "--role", "boss", "--json");
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: false, code: "usage", message: expect.stringMatching(/--role/) });
  });

  it("with good arguments and no bus, says no 'up' runs (exit 1)", async () => {
    const r = await noBus("operator", "add", "alice.ops-1", "--role", "viewer");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no running 'claw-supervisor up'");
  });
});

describe("claw-supervisor operator: no policy service", () => {
  const nats = useBus({ ensure: true });

  it("says no policy service answers, and exits 8, for each action", async () => {
    for (const args of [["add", "alice", "--role", "operator"], ["list"], ["revoke", "alice"]]) {
      const r = await noBus("operator", ...args, "--nats-url", nats.url);
      expect(r.stderr).toContain("no policy service is answering on codex.admin.operator.");
      expect(r.code).toBe(8);
    }
  });
});
