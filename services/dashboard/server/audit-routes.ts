/**
 * The audit views of the dashboard, the same reads as `claw-supervisor audit` (services/clients/audit-trail.ts):
 * `GET /api/audit?session&caller&verb&kind&since&until&limit` (schemas/dashboard.ts AuditQuery) lists matching
 * AUDIT records, oldest first; `GET /api/audit/replay` folds CODEX_EVENTS through the registry's own replay and
 * says whether it equals the live registry (one check at a time: concurrent asks share it).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { AuditQuery } from "../../../schemas/dashboard.js";
import { readAuditRecords, readEventEnvelopes, replayDifferences } from "../../clients/audit-trail.js";
import { listAllSessions } from "../../clients/registry-queries.js";
// The registry's fold, run offline over the recorded events (a documented exception in .dependency-cruiser.cjs).
import { replayEnvelopes } from "../../registry/replay.js";
import { requireSession, sessionOf, type SessionChecker } from "./session.js";

/** The replay check's answer. */
export interface ReplayCheck {
  equal: boolean;
  differences: string[];
}

/** Folds the event log and compares it with the registry's list of every session. Throws on bus failures. */
export async function checkReplay(nc: NatsConnection): Promise<ReplayCheck> {
  const replayed = replayEnvelopes(await readEventEnvelopes(nc)).sessions;
  const live = (await listAllSessions(nc, {})).sessions;
  const differences = replayDifferences(replayed, live);
  return { equal: differences.length === 0, differences };
}

/** Registers the audit routes; both need a session. */
export function registerAuditRoutes(
  app: FastifyInstance,
  d: { nc: NatsConnection; checker: SessionChecker; log: Logger },
): void {
  const authed = { preValidation: requireSession(d.checker) };
  let running: Promise<ReplayCheck> | null = null;

  app.get("/api/audit", authed, async (req, reply) => {
    const q = AuditQuery.safeParse(req.query);
    if (!q.success) {
      const issue = q.error.issues[0];
      return reply.code(400).send({
        ok: false,
        code: "invalid",
        message: `bad audit query: ${issue ? `${issue.path.join(".") || "query"}: ${issue.message}` : "invalid"}`,
      });
    }
    const { session, caller, verb, kind, since, until, limit } = q.data;
    try {
      const records = await readAuditRecords(d.nc, {
        session,
        caller,
        verb,
        kind,
        sinceMs: since,
        untilMs: until,
        limit,
      });
      return { ok: true, data: { records } };
    } catch (err) {
      d.log.warn({ err: (err as Error).message }, "dashboard: reading the audit trail failed");
      return reply
        .code(503)
        .send({ ok: false, code: "unavailable", message: `cannot read the audit trail: ${(err as Error).message}` });
    }
  });

  app.get("/api/audit/replay", authed, async (req, reply) => {
    // The check reads the whole event log into this process: an operator's to ask for, not a viewer's.
    if (sessionOf(req).role !== "operator")
      return reply.code(403).send({ ok: false, code: "forbidden", message: "the replay check is for operators" });
    running ??= checkReplay(d.nc).finally(() => {
      running = null;
    });
    try {
      return { ok: true, data: await running };
    } catch (err) {
      d.log.warn({ err: (err as Error).message }, "dashboard: the replay check failed");
      return reply
        .code(503)
        .send({ ok: false, code: "unavailable", message: `cannot check the replay: ${(err as Error).message}` });
    }
  });
}
