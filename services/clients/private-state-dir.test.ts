/**
 * The state dir is made private only when it is ours to close: new, empty, or already a state dir. Anything else
 * others can read (a home, /tmp) is refused and left exactly as it was. Real directories under a temp dir.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ensureBusCredentials } from "./bus-credentials.js";
import { ensurePrivateStateDir, looksLikeStateDir, StateDirModeError } from "./private-state-dir.js";

let base: string;
beforeEach(() => {
  base = mkdtempSync(path.join(tmpdir(), "claw-private-"));
});
afterEach(() => {
  rmSync(base, { recursive: true, force: true });
});

const modeOf = (p: string): number => statSync(p).mode & 0o777;

/** A directory `mode` with `entries` (names ending in / are directories). */
function dirWith(name: string, mode: number, entries: string[]): string {
  const d = path.join(base, name);
  mkdirSync(d);
  for (const e of entries) {
    if (e.endsWith("/")) mkdirSync(path.join(d, e));
    else writeFileSync(path.join(d, e), "x");
  }
  chmodSync(d, mode);
  return d;
}

const refusal = (d: string): string =>
  `${d} is readable by other users and is not a claw-supervisor state dir: use a new or empty directory, or chmod 700 it yourself`;

describe("ensurePrivateStateDir", () => {
  it("creates a new state dir, and its missing parents, 0700", async () => {
    const d = path.join(base, "a", "b", "state");
    await ensurePrivateStateDir(d);
    expect(modeOf(d)).toBe(0o700);
    expect(modeOf(path.join(base, "a"))).toBe(0o700);
  });

  it("tightens an existing empty directory", async () => {
    const d = dirWith("empty", 0o755, []);
    await ensurePrivateStateDir(d);
    expect(modeOf(d)).toBe(0o700);
  });

  it.each([["nats/"], ["credentials/"], ["mcp-secret"], ["up.json"], ["host-token.build-box-1"], ["presence/"]])(
    "tightens an existing directory holding %s (an older version's state dir)",
    async (entry) => {
      const d = dirWith("old", 0o755, [entry, "notes.txt"]);
      await ensurePrivateStateDir(d);
      expect(modeOf(d)).toBe(0o700);
    },
  );

  it("refuses a directory others can read that is not a state dir, and changes nothing", async () => {
    for (const [name, mode] of [
      ["home", 0o755],
      ["group", 0o750],
      ["tmp", 0o1777],
    ] as const) {
      const d = dirWith(name, mode, [".bashrc", "work/"]);
      const err = await ensurePrivateStateDir(d).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StateDirModeError);
      expect((err as Error).message).toBe(refusal(d));
      expect(statSync(d).mode & 0o7777).toBe(mode);
      expect(readdirSync(d).sort()).toEqual([".bashrc", "work"]);
    }
  });

  it("leaves a private directory as it is, whatever it holds", async () => {
    const d = dirWith("mine", 0o700, [".bashrc"]);
    await ensurePrivateStateDir(d);
    expect(modeOf(d)).toBe(0o700);
    const stricter = dirWith("stricter", 0o500, [".bashrc"]);
    await ensurePrivateStateDir(stricter);
    expect(modeOf(stricter)).toBe(0o500);
    chmodSync(stricter, 0o700);
  });

  it("says a file is not a directory", async () => {
    const f = path.join(base, "file");
    writeFileSync(f, "x");
    await expect(ensurePrivateStateDir(f)).rejects.toThrow(StateDirModeError);
  });

  it("recognises a state dir by its names", () => {
    expect(looksLikeStateDir([])).toBe(true);
    expect(looksLikeStateDir(["up.lock"])).toBe(true);
    expect(looksLikeStateDir(["host-token.x", "a"])).toBe(true);
    expect(looksLikeStateDir(["host-token", ".profile"])).toBe(false);
    expect(looksLikeStateDir(["Documents", ".ssh"])).toBe(false);
  });
});

describe("ensureBusCredentials", () => {
  it("refuses a readable directory that is not a state dir, writing no credentials into it", async () => {
    const d = dirWith("home", 0o755, [".profile"]);
    await expect(ensureBusCredentials(d)).rejects.toThrow(refusal(d));
    expect(readdirSync(d)).toEqual([".profile"]);
    expect(modeOf(d)).toBe(0o755);
  });

  it("makes an empty readable directory private and writes the credentials 0600", async () => {
    const d = dirWith("fresh", 0o755, []);
    const users = await ensureBusCredentials(d);
    expect(Object.keys(users)).toContain("operator");
    expect(modeOf(d)).toBe(0o700);
    expect(modeOf(path.join(d, "credentials", "operator.json"))).toBe(0o600);
  });
});
