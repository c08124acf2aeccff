/**
 * The CLI shell (run.ts): the lazy command table, "did you mean", and `--json` for failures that happen before
 * or outside a command's own output. What a command line loads is read from the built bin, as a user runs it.
 */
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { cliEntry } from "../../test/support/cli-process.js";
import { commandTable } from "./run.js";
import { runCliInProcess } from "./test-cli.js";

const cli = runCliInProcess;

/** A module-load hook that prints every non-builtin module URL the process loads on stderr. */
const LOAD_HOOK = `data:text/javascript,${encodeURIComponent(
  `import { register } from "node:module";
register("data:text/javascript," + encodeURIComponent(
  "export async function load(url, context, next) { if (!url.startsWith('node:')) process.stderr.write('LOADED ' + url + '\\\\n'); return next(url, context); }"
));`,
)}`;

/** The modules (paths under the repository, or package names) the built bin loads for `args`. */
async function loadedBy(args: string[]): Promise<{ modules: string[]; code: number | null }> {
  const child = spawn(process.execPath, ["--import", LOAD_HOOK, cliEntry, ...args], {
    env: { PATH: process.env.PATH, HOME: "/nonexistent" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr.setEncoding("utf8").on("data", (c: string) => void (err += c));
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  const modules = [...err.matchAll(/^LOADED file:\/\/(.*)$/gm)].map((m) => {
    const file = m[1] as string;
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(file);
    return pkg ? (pkg[1] as string) : file.replace(/^.*\/dist\//, "dist/");
  });
  return { modules: [...new Set(modules)], code };
}

describe("the claw-supervisor shell", () => {
  it("lists every command from the table, whose entries load the command they name", async () => {
    const help = await cli(["--help"]);
    for (const entry of commandTable) {
      expect(help.stdout).toContain(`  ${entry.name}`);
      const command = await entry.load();
      expect({ name: command.name, summary: command.summary }).toEqual({ name: entry.name, summary: entry.summary });
    }
  });

  it("loads no command module, package or schema for --help, --version and a mistyped command", async () => {
    const shell = [
      "dist/services/cli/main.js",
      "dist/services/cli/run.js",
      "dist/services/cli/io.js",
      "dist/services/cli/output.js",
      "dist/services/cli/suggest.js",
      "dist/services/clients/version.js",
    ];
    for (const args of [["--help"], ["--version"], ["sesions"]]) {
      const { modules, code } = await loadedBy(args);
      expect(code).toBe(args[0] === "sesions" ? 2 : 0);
      expect(modules.sort()).toEqual([...shell].sort());
    }
  });

  it("loads neither the services, xstate nor the MCP SDK for sessions --json", async () => {
    const { modules, code } = await loadedBy(["sessions", "--json", "--nats-url", "nats://127.0.0.1:1"]);
    expect(code).toBe(1);
    expect(modules).toContain("dist/services/cli/sessions.js");
    const heavy = modules.filter((m) =>
      /^(xstate|pino|ws|@modelcontextprotocol\/sdk)$|^dist\/(machines|services\/(registry|policy|mcp-edge|rpc-gateway|host-agent|stack))\//.test(
        m,
      ),
    );
    expect(heavy).toEqual([]);
    expect(modules.filter((m) => m.startsWith("dist/services/cli/") && /control|policy|audit|up\.js/.test(m))).toEqual(
      [],
    );
  });

  it("suggests the command meant, exit 2, and prints it as JSON too with --json", async () => {
    const typo = await cli(["sesions"]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toMatch(
      /^claw-supervisor: unknown command 'sesions': did you mean 'sessions'\? Commands: up, /,
    );
    expect(typo.stdout).toBe("");
    expect((await cli(["polcy"])).stderr).toContain("did you mean 'policy'?");
    expect((await cli(["frobnicate"])).stderr).not.toContain("did you mean");
    const json = await cli(["sesions", "--json"]);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toEqual({
      ok: false,
      code: "usage",
      message: expect.stringContaining("'sessions'"),
    });
    expect(json.stderr).toContain("did you mean 'sessions'?");
  });

  it("suggests the option meant", async () => {
    const r = await cli(["hosts", "--jsn"]);
    expect(r).toMatchObject({
      code: 2,
      stderr:
        "claw-supervisor hosts: Unknown option '--jsn'. Did you mean '--json'? See 'claw-supervisor hosts --help'.\n",
    });
    expect((await cli(["policy", "get", "--nats-ulr", "x"])).stderr).toContain("Did you mean '--nats-url'?");
  });

  it("prints local failures as {ok:false,code,message} with --json or -o json, with the same exit code", async () => {
    const usage = await cli(["hosts", "extra", "--json"]);
    expect(usage.code).toBe(2);
    expect(JSON.parse(usage.stdout)).toEqual({
      ok: false,
      code: "usage",
      message: "hosts takes no arguments, got 'extra'. See 'claw-supervisor hosts --help'.",
    });
    expect(usage.stderr).toBe(
      "claw-supervisor hosts: hosts takes no arguments, got 'extra'. See 'claw-supervisor hosts --help'.\n",
    );
    // hosts has no -o: still a usage error printed as JSON, since the line asked for JSON.
    const dashO = await cli(["hosts", "-o", "json"]);
    expect(dashO.code).toBe(2);
    expect(JSON.parse(dashO.stdout)).toMatchObject({ ok: false, code: "usage" });
    const down = await cli(["hosts", "--json", "--nats-url", "nats://127.0.0.1:1"]);
    expect(down.code).toBe(1);
    expect(JSON.parse(down.stdout)).toMatchObject({
      ok: false,
      code: "failure",
      message: expect.stringContaining("nats://127.0.0.1:1"),
    });
    expect(down.stderr).toMatch(/^claw-supervisor hosts: .*nats:\/\/127\.0\.0\.1:1/);
    // Without --json nothing goes to stdout.
    expect((await cli(["hosts", "--nats-url", "nats://127.0.0.1:1"])).stdout).toBe("");
  });
});
