import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RegistryQueryError } from "../clients/registry-queries.js";
import { useBus } from "../../test/support/bus.js";
import { cliBusUrl, connectCli, queryFailure, shownUrl } from "./connection.js";
import { CliError } from "./io.js";
import { runCliInProcess } from "./test-cli.js";

const tmp: string[] = [];
afterEach(() => {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});
const stateDir = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), "claw-conn-"));
  tmp.push(d);
  return d;
};
const upFile = (dir: string, pid: number, natsUrl = "nats://127.0.0.1:23456"): void =>
  writeFileSync(
    path.join(dir, "up.json"),
    JSON.stringify({ natsUrl, gatewayUrl: "ws://127.0.0.1:7410/", pid, embedded: true }),
  );

/** The CliError `fn` throws. */
function cliError(fn: () => unknown): CliError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CliError) return err;
    throw err;
  }
  throw new Error("no error thrown");
}

describe("which bus the CLI uses", () => {
  it("--nats-url, then NATS_URL, then the running up of the state dir", () => {
    const dir = stateDir();
    upFile(dir, process.pid);
    const env = { CLAW_SUPERVISOR_STATE_DIR: dir };
    expect(cliBusUrl(undefined, env)).toBe("nats://127.0.0.1:23456");
    expect(cliBusUrl(undefined, { ...env, NATS_URL: "nats://env:1" })).toBe("nats://env:1");
    expect(cliBusUrl("nats://flag:2", { ...env, NATS_URL: "nats://env:1" })).toBe("nats://flag:2");
    expect(cliBusUrl(undefined, {}, dir)).toBe("nats://127.0.0.1:23456");
  });

  it("with no running up, names the state dir and what to do, and guesses no server", () => {
    const dir = stateDir();
    const none = cliError(() => cliBusUrl(undefined, { CLAW_SUPERVISOR_STATE_DIR: dir }));
    expect(none.exitCode).toBe(1);
    expect(none.message).toBe(
      `no running 'claw-supervisor up' found in ${dir} (no ${path.join(dir, "up.json")}): start it, or pass --nats-url/NATS_URL`,
    );
    // An up.json left by an up that is gone (kill -9) is no running up.
    const gone = 2 ** 22 + 12345;
    upFile(dir, gone);
    expect(cliError(() => cliBusUrl(undefined, { CLAW_SUPERVISOR_STATE_DIR: dir })).message).toBe(
      `no running 'claw-supervisor up' found in ${dir} (${path.join(dir, "up.json")} names pid ${gone}, which is not ` +
        "running): start it, or pass --nats-url/NATS_URL",
    );
  });

  it("every bus command says so, exit 1, without a connection attempt", async () => {
    const dir = stateDir();
    const env = { CLAW_SUPERVISOR_STATE_DIR: dir, HOME: dir };
    for (const argv of [["sessions"], ["hosts"], ["audit"], ["policy", "get"], ["token", "list"], ["read", "abc"]]) {
      const run = await runCliInProcess(argv, env);
      expect(run, argv.join(" ")).toMatchObject({ code: 1, stdout: "" });
      expect(run.stderr, argv.join(" ")).toContain(`no running 'claw-supervisor up' found in ${dir}`);
    }
  });

  it("keeps credentials out of the URLs it shows", () => {
    expect(shownUrl("nats://admin:secret@127.0.0.1:4321")).toBe("nats://127.0.0.1:4321");
    expect(shownUrl("nats://127.0.0.1:4321")).toBe("nats://127.0.0.1:4321");
  });
});

describe("failures name the bus", () => {
  const bus = useBus();

  it("a registry nobody answers is worded with the URL asked", async () => {
    const nc = await connectCli(bus.url, {});
    try {
      const err = (() => {
        try {
          queryFailure(new RegistryQueryError("no_registry", "no registry is answering on codex.registry.x"));
        } catch (e) {
          return e as CliError;
        }
      })();
      expect(err?.message).toBe(`no registry is answering on codex.registry.x (asked the bus at ${bus.url})`);
      expect(() => queryFailure(new Error("other"))).toThrow(/^other$/);
    } finally {
      await nc.close();
    }
    const hosts = await runCliInProcess(["hosts", "--nats-url", bus.url]);
    expect(hosts.code).toBe(1);
    expect(hosts.stderr).toContain(`(asked the bus at ${bus.url})`);
  });
});
