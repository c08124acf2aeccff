import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  chooseNatsPort,
  FIRST_PORT_RANGE,
  PortsFileError,
  portsFileOf,
  readPortsFile,
  writePortsFile,
} from "./ports-file.js";

const tmp: string[] = [];
afterEach(() => {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});
const stateDir = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), "claw-ports-"));
  tmp.push(d);
  return d;
};

describe("the kept NATS port", () => {
  it("is written privately and read back; no file is no port", async () => {
    const dir = stateDir();
    expect(await readPortsFile(dir)).toBeUndefined();
    await writePortsFile(dir, { nats: 23456 });
    expect(await readPortsFile(dir)).toEqual({ nats: 23456 });
    expect(readFileSync(portsFileOf(dir), "utf8")).toBe('{"nats":23456}\n');
    expect(statSync(portsFileOf(dir)).mode & 0o777).toBe(0o600);
  });

  it("a bad file is an error naming it, never a silent new port", async () => {
    const dir = stateDir();
    for (const text of ["not json", '{"nats":0}', '{"nats":"4222"}', "{}"]) {
      writeFileSync(portsFileOf(dir), text);
      await expect(readPortsFile(dir)).rejects.toThrow(PortsFileError);
      await expect(chooseNatsPort(dir, undefined, "127.0.0.1")).rejects.toThrow(
        `${portsFileOf(dir)} is not a ports file`,
      );
    }
  });

  it("asked for beats kept, kept beats new; a new one is free and below the ephemeral range", async () => {
    const dir = stateDir();
    const first = await chooseNatsPort(dir, undefined, "127.0.0.1");
    expect(first.from).toBe("new");
    expect(first.port).toBeGreaterThanOrEqual(FIRST_PORT_RANGE.min);
    expect(first.port).toBeLessThanOrEqual(FIRST_PORT_RANGE.max);
    await writePortsFile(dir, { nats: 24680 });
    expect(await chooseNatsPort(dir, undefined, "127.0.0.1")).toEqual({ port: 24680, from: "kept" });
    expect(await chooseNatsPort(dir, { port: 25000, from: "flag" }, "127.0.0.1")).toEqual({
      port: 25000,
      from: "flag",
    });
  });
});
