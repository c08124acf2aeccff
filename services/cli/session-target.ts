/**
 * The session a verb names: `<ref>` or `<host>/<ref>` as a person types it (a short id from `sessions`, any
 * unique prefix of the id or of its last group, or the whole id), resolved by the registry's `resolve` query
 * into the full host and id the command carries. None is `not_found` (exit 4); several are `ambiguous`
 * (exit 2), listed so the person can pick one.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { SessionRecord } from "../../schemas/registry.js";
import { DEFAULT_QUERY_TIMEOUT_MS, resolveSession } from "../clients/registry-queries.js";
import { parseSessionRef } from "../clients/session-ref.js";
import { queryFailure } from "./connection.js";
import { EXIT_CODES } from "./command-client.js";
import { CliError, type CliIo } from "./io.js";
import { jsonFailure } from "./output.js";

/** A session as a command carries it. */
export interface SessionTarget {
  hostId: string;
  sessionId: string;
}

/** One session a reference could mean, as an ambiguous reference lists it. */
export interface TargetCandidate {
  host: string;
  sessionId: string;
  shortId: string;
  workspace: string | null;
  status: string;
}

/** Why a reference names no single session. */
export interface TargetFailure {
  code: "not_found" | "ambiguous";
  message: string;
  exitCode: number;
  candidates: TargetCandidate[];
  /** How many sessions match in all (candidates lists at most the registry's cap). */
  total: number;
}

const candidatesOf = (matches: SessionRecord[], short: ReadonlyMap<string, string>): TargetCandidate[] =>
  matches.map((m) => ({
    host: m.host,
    sessionId: m.sessionId,
    shortId: short.get(m.sessionId) ?? m.sessionId,
    workspace: m.workspace,
    status: m.status,
  }));

/**
 * The one session `ref` (on `hostId` when given) names, or why there is none. A registry that cannot answer
 * is a CliError (exit 1) naming why; an empty ref is a usage error (exit 2).
 */
export async function resolveTarget(
  nc: NatsConnection,
  verb: string,
  ref: { hostId?: string; sessionId: string },
  timeoutMs = DEFAULT_QUERY_TIMEOUT_MS,
): Promise<SessionTarget | TargetFailure> {
  if (ref.sessionId === "" || ref.hostId === "")
    throw new CliError(
      `${verb} needs a session: <session> or <host>/<session>. See 'claw-supervisor ${verb} --help'.`,
      2,
    );
  const request = { ref: ref.sessionId, ...(ref.hostId === undefined ? {} : { host: ref.hostId }) };
  const { matches, total, shortIds: fleetShort } = await resolveSession(nc, request, timeoutMs).catch(queryFailure);
  const typed = ref.hostId === undefined ? ref.sessionId : `${ref.hostId}/${ref.sessionId}`;
  const only = matches[0];
  if (total === 1 && only) return { hostId: only.host, sessionId: only.sessionId };
  if (total === 0)
    return {
      code: "not_found",
      message: `no session matches '${typed}'`,
      exitCode: EXIT_CODES.not_found,
      candidates: [],
      total,
    };
  return {
    code: "ambiguous",
    message: `'${typed}' matches ${total} sessions; give more of the id, or <host>/<id>`,
    exitCode: 2,
    candidates: candidatesOf(matches, fleetShort),
    total,
  };
}

/** True when `value` is a resolution failure rather than a target. */
export function isTargetFailure(value: SessionTarget | TargetFailure): value is TargetFailure {
  return "code" in value;
}

/** Prints a failure: one line (and the candidates) on stderr, and `{ok:false,...,candidates}` on stdout with --json. */
export function printTargetFailure(io: CliIo, verb: string, failure: TargetFailure, json: boolean): void {
  if (json)
    io.stdout(
      jsonFailure(
        failure.code,
        failure.message,
        failure.code === "ambiguous" ? { candidates: failure.candidates, total: failure.total } : {},
      ),
    );
  const refs = failure.candidates.map((c) => `${c.host}/${c.shortId}`);
  const spaces = failure.candidates.map((c) => c.workspace ?? "-");
  const refWidth = Math.max(0, ...refs.map((r) => r.length));
  const spaceWidth = Math.max(0, ...spaces.map((w) => w.length));
  const lines = failure.candidates.map(
    (c, i) => `  ${refs[i]!.padEnd(refWidth)}  ${spaces[i]!.padEnd(spaceWidth)}  ${c.status}`,
  );
  const more =
    failure.total > failure.candidates.length ? [`  ... and ${failure.total - failure.candidates.length} more`] : [];
  io.stderr(
    `claw-supervisor ${verb}: ${failure.code}: ${failure.message}\n${[...lines, ...more].map((l) => `${l}\n`).join("")}`,
  );
}

/**
 * The command's arguments with every session it names resolved: `target`, and `to.sessionId` of a handoff to
 * a session. On a failure prints it (see printTargetFailure) and returns the exit code instead.
 */
export async function resolveCommandTargets(
  nc: NatsConnection,
  verb: string,
  args: unknown,
  o: { io: CliIo; json: boolean; timeoutMs?: number },
): Promise<{ args: unknown } | { exitCode: number }> {
  if (typeof args !== "object" || args === null) return { args };
  const out: Record<string, unknown> = { ...(args as Record<string, unknown>) };
  const resolve = async (ref: { hostId?: string; sessionId: string }): Promise<SessionTarget | number> => {
    const found = await resolveTarget(nc, verb, ref, o.timeoutMs);
    if (!isTargetFailure(found)) return found;
    printTargetFailure(o.io, verb, found, o.json);
    return found.exitCode;
  };
  if (out.target && typeof out.target === "object") {
    const target = await resolve(out.target as { hostId?: string; sessionId: string });
    if (typeof target === "number") return { exitCode: target };
    out.target = target;
  }
  const to = out.to as { kind?: string; sessionId?: string } | undefined;
  if (to?.kind === "session" && typeof to.sessionId === "string") {
    const { host, ref } = parseSessionRef(to.sessionId);
    const peer = await resolve({ sessionId: ref, ...(host === undefined ? {} : { hostId: host }) });
    if (typeof peer === "number") return { exitCode: peer };
    out.to = { ...to, sessionId: peer.sessionId };
  }
  return { args: out };
}
