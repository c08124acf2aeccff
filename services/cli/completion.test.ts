/**
 * `claw-supervisor completion bash|zsh`: the generated scripts, loaded in a real bash (and checked by a real
 * `zsh -n` where zsh is installed).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { optionsInUsage } from "./completion.js";
import { runCliInProcess } from "./test-cli.js";

const dir = mkdtempSync(path.join(tmpdir(), "claw-completion-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const hasZsh = spawnSync("zsh", ["--version"]).status === 0;

async function script(shell: string): Promise<string> {
  const r = await runCliInProcess(["completion", shell]);
  expect(r.code, r.stderr).toBe(0);
  const file = path.join(dir, `completion.${shell}`);
  writeFileSync(file, r.stdout);
  return file;
}

/** What the bash completion offers for the words typed so far (the last one being completed). */
function bashComplete(file: string, words: string[]): string[] {
  const out = execFileSync(
    "bash",
    [
      "--norc",
      "-c",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: bash expands it, not JavaScript
      'source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); _claw_supervisor; printf "%s\\n" "${COMPREPLY[@]}"',
      "bash",
      file,
      ...words,
    ],
    { encoding: "utf8" },
  );
  return out.split("\n").filter(Boolean);
}

describe("claw-supervisor completion", () => {
  it("bash: registers the function, completes commands, actions and a command's options", async () => {
    const file = await script("bash");
    const registered = execFileSync(
      "bash",
      ["--norc", "-c", 'source "$1"; complete -p claw-supervisor', "bash", file],
      {
        encoding: "utf8",
      },
    );
    expect(registered.trim()).toBe("complete -o default -F _claw_supervisor claw-supervisor");
    expect(bashComplete(file, ["claw-supervisor", "ses"])).toEqual(["sessions"]);
    expect(bashComplete(file, ["claw-supervisor", "mcp"])).toEqual(["mcp", "mcp-config"]);
    expect(bashComplete(file, ["claw-supervisor", "policy", "r"])).toEqual(["reset"]);
    expect(bashComplete(file, ["claw-supervisor", "policy", "--"])).toEqual(
      expect.arrayContaining(["--yes", "--dry-run", "--json", "--role", "--help"]),
    );
    expect(bashComplete(file, ["claw-supervisor", "read", "--"])).toEqual(
      expect.arrayContaining([
        "--limit",
        "--cursor",
        "--raw",
        "--json",
        "--caller",
        "--key",
        "--nats-url",
        "--timeout",
      ]),
    );
    expect(bashComplete(file, ["claw-supervisor", "read", "--"])).not.toContain("--yes");
    expect(bashComplete(file, ["claw-supervisor", "sessions", "--js"])).toEqual(["--json"]);
    expect(bashComplete(file, ["claw-supervisor", "--v"])).toEqual(["--version"]);
  });

  it.skipIf(!hasZsh)("zsh: the script parses (zsh -n)", async () => {
    const file = await script("zsh");
    const r = spawnSync("zsh", ["-n", file], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("zsh: describes every command and lists options per command", async () => {
    const r = await runCliInProcess(["completion", "zsh"]);
    expect(r.stdout).toMatch(/^#compdef claw-supervisor\n/);
    expect(r.stdout).toContain("'sessions:list the fleet'\\''s sessions");
    expect(r.stdout).toMatch(/ {4}policy\)\n {6}options=\(.*--dry-run.*\)\n {6}actions=\(get set reset check\)/);
    expect(r.stdout).toContain("compdef _claw_supervisor claw-supervisor");
  });

  it("refuses a missing or unknown shell with exit 2", async () => {
    expect(await runCliInProcess(["completion"])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("completion needs a shell: bash or zsh."),
    });
    expect(await runCliInProcess(["completion", "fish"])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("not 'fish'"),
    });
    expect((await runCliInProcess(["completion", "bash", "zsh"])).code).toBe(2);
  });

  it("reads a command's options from its usage when it lists none itself", () => {
    expect(optionsInUsage("Usage: x [--state-dir DIR] [--json]\n--nats-url URL  the bus; not a-word--like")).toEqual([
      "state-dir",
      "json",
      "nats-url",
    ]);
  });
});
