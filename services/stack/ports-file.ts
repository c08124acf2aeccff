/**
 * `<stateDir>/ports.json`: the port `up`'s embedded nats-server listens on, chosen on the first start and kept,
 * so the bus URL (`nats://127.0.0.1:<port>`) stays the same across restarts and configs that name it (the
 * plugin's `natsUrl`) stay right. `--nats-port` (or `$CLAW_SUPERVISOR_NATS_PORT`) moves it, and is kept in turn.
 */
import { randomInt } from "node:crypto";
import { readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { portIsFree } from "../bus/port-owner.js";

/** The env variable that asks for a NATS port, as `--nats-port` does (the flag wins). */
export const NATS_PORT_ENV = "CLAW_SUPERVISOR_NATS_PORT";

const PortNumber = z.number().int().min(1).max(65535);

/** What `ports.json` holds. */
export const PortsFile = z.object({ nats: PortNumber });
export type PortsFile = z.infer<typeof PortsFile>;

/** `<stateDir>/ports.json`. Pure. */
export const portsFileOf = (stateDir: string): string => path.join(stateDir, "ports.json");

/** Thrown when `ports.json` exists but cannot be used; the message names the file and what to do. */
export class PortsFileError extends Error {
  override readonly name = "PortsFileError";
}

/** The kept ports, or undefined when there is no file yet. Throws a {@link PortsFileError} for a bad one. */
export async function readPortsFile(stateDir: string): Promise<PortsFile | undefined> {
  const file = portsFileOf(stateDir);
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new PortsFileError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const parsed = PortsFile.safeParse(json);
  if (!parsed.success)
    throw new PortsFileError(
      `${file} is not a ports file ({"nats": <port>}); fix it, or delete it and 'up' chooses a new NATS port`,
    );
  return parsed.data;
}

/** Keeps `ports` (written whole, then renamed into place, mode 0600). */
export async function writePortsFile(stateDir: string, ports: PortsFile): Promise<void> {
  const file = portsFileOf(stateDir);
  await writeFile(`${file}.tmp`, `${JSON.stringify(PortsFile.parse(ports))}\n`, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

/**
 * Where a first start picks the NATS port: below Linux's ephemeral range (32768 and up by default), so the
 * local end of some outgoing connection never holds it when `up` restarts, and away from 4222, the port of a
 * nats-server installed as a system service.
 */
export const FIRST_PORT_RANGE = { min: 20_000, max: 32_767 } as const;

/** A port in {@link FIRST_PORT_RANGE} free on `host` right now, or undefined after `tries` taken ones. */
export async function pickFreePort(host: string, tries = 50): Promise<number | undefined> {
  for (let i = 0; i < tries; i++) {
    const port = randomInt(FIRST_PORT_RANGE.min, FIRST_PORT_RANGE.max + 1);
    if (await portIsFree(host, port)) return port;
  }
  return undefined;
}

/** Where the NATS port of this start comes from. */
export type NatsPortChoice =
  | { port: number; from: "flag" | "env" | "kept" }
  | { port: number; from: "new" }
  | { port: undefined; from: "any" };

/**
 * The NATS port to start on: the one asked for (`--nats-port`, then `$CLAW_SUPERVISOR_NATS_PORT`), else the one
 * kept in `ports.json`, else a new free one (or, if none is found, whatever the server picks). Never moves a kept
 * port on its own: if it is taken, starting fails and says so.
 */
export async function chooseNatsPort(
  stateDir: string,
  asked: { port: number; from: "flag" | "env" } | undefined,
  host: string,
): Promise<NatsPortChoice> {
  if (asked) return asked;
  const kept = await readPortsFile(stateDir);
  if (kept) return { port: kept.nats, from: "kept" };
  const port = await pickFreePort(host);
  return port === undefined ? { port: undefined, from: "any" } : { port, from: "new" };
}
