/**
 * Reading what the fleet recorded, as the end-to-end tests check it: a session's registry record, the FLEET
 * notices about a session, and its audit trail through the built CLI.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { expect } from "vitest";
import type { AuditRecord } from "../../schemas/audit.js";
import type { FleetEvent } from "../../schemas/fleet.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { STREAM_NAMES, readStream } from "../../services/bus/index.js";
import { listAllSessions } from "../../services/clients/registry-queries.js";
import type { CliResult } from "./stack.js";

/** Session `id` on `host` as the registry lists it, when `pred` holds for it; undefined otherwise (a probe for `until`). */
export async function sessionOn(
  nc: NatsConnection,
  host: string,
  id: string,
  pred: (s: SessionRecord) => boolean = () => true,
): Promise<SessionRecord | undefined> {
  const s = (await listAllSessions(nc, { host })).sessions.find((x) => x.sessionId === id);
  return s && pred(s) ? s : undefined;
}

/** The FLEET notices about a session, oldest first. */
export async function noticesAbout(nc: NatsConnection, sessionId: string): Promise<FleetEvent[]> {
  const decoder = new TextDecoder();
  const out: FleetEvent[] = [];
  for await (const m of readStream(nc, STREAM_NAMES.fleet)) {
    const e = JSON.parse(decoder.decode(m.data)) as FleetEvent;
    if (e.sessionId === sessionId) out.push(e);
  }
  return out;
}

/** `claw-supervisor audit --session <id> --json`: the records, from the one JSON shape `{ok:true,data:[...]}`. */
export async function auditOfSession(
  cli: (...args: string[]) => Promise<CliResult>,
  sessionId: string,
): Promise<AuditRecord[]> {
  const out = await cli("audit", "--session", sessionId, "--json");
  expect(out.code, out.stderr).toBe(0);
  const body = JSON.parse(out.stdout) as { ok: true; data: AuditRecord[] };
  expect(body).toEqual({ ok: true, data: expect.any(Array) });
  return body.data;
}
