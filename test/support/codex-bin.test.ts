import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { CODEX_BIN_ENV, codexBinOverride, codexBinPath, nativeCodexIn, pinnedCodexBinPath } from "./codex-bin.js";

const dir = mkdtempSync(path.join(os.tmpdir(), "codex-bin-test-"));
const saved = process.env[CODEX_BIN_ENV];
afterEach(() => {
  if (saved === undefined) delete process.env[CODEX_BIN_ENV];
  else process.env[CODEX_BIN_ENV] = saved;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe(`${CODEX_BIN_ENV}`, () => {
  it("is what codexBinPath returns when it names an executable file; unset, the pinned binary", () => {
    const bin = path.join(dir, "codex");
    writeFileSync(bin, "#!/bin/sh\necho codex-cli 9.9.9\n");
    chmodSync(bin, 0o755);
    process.env[CODEX_BIN_ENV] = bin;
    expect(codexBinPath()).toBe(bin);
    delete process.env[CODEX_BIN_ENV];
    expect(codexBinPath()).toBe(pinnedCodexBinPath());
    expect(codexBinPath()).not.toBe(bin);
  });

  it("says what is wrong when it names no executable file", () => {
    const env = (value: string) => ({ [CODEX_BIN_ENV]: value });
    expect(() => codexBinOverride(env("bin/codex"))).toThrow(`${CODEX_BIN_ENV}=bin/codex: must be an absolute path`);
    expect(() => codexBinOverride(env(path.join(dir, "missing")))).toThrow("missing: no such file");
    expect(() => codexBinOverride(env(dir))).toThrow(`${CODEX_BIN_ENV}=${dir}: not a file`);
    const plain = path.join(dir, "plain");
    writeFileSync(plain, "");
    chmodSync(plain, 0o644);
    expect(() => codexBinOverride(env(plain))).toThrow(`${CODEX_BIN_ENV}=${plain}: not executable`);
    expect(codexBinOverride({})).toBeUndefined();
    expect(codexBinOverride(env(""))).toBeUndefined();
    process.env[CODEX_BIN_ENV] = path.join(dir, "missing");
    expect(() => codexBinPath()).toThrow("no such file");
  });

  it("finds no native binary in a prefix without the platform package", () => {
    expect(nativeCodexIn(dir)).toBeUndefined();
  });
});
