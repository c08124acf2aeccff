import { BusError } from "./errors.js";

/** Root token shared by every subject the project publishes on. */
export const SUBJECT_ROOT = "codex";

// A token may not contain the separator, wildcards, whitespace or control characters:
// any of those would let a caller widen or redirect a subject (subject token injection).
const FORBIDDEN_TOKEN_CHARS = /[.*>\s\p{Cc}]/u;
const MAX_TOKEN_LENGTH = 256;

/** Returns `value` when it is a safe single subject token, else throws `BusError("invalid_subject_token")`. Pure. */
export function subjectToken(kind: string, value: string): string {
  if (typeof value !== "string" || value.length === 0) {
    throw new BusError("invalid_subject_token", `${kind} must be a non-empty string`);
  }
  if (value.length > MAX_TOKEN_LENGTH) {
    throw new BusError("invalid_subject_token", `${kind} is longer than ${MAX_TOKEN_LENGTH} characters`);
  }
  if (FORBIDDEN_TOKEN_CHARS.test(value)) {
    throw new BusError(
      "invalid_subject_token",
      `${kind} ${JSON.stringify(value)} contains '.', '*', '>', whitespace or a control character`,
    );
  }
  return value;
}

/** True when `value` is a safe single subject token. Pure. */
export function isSubjectToken(value: string): boolean {
  try {
    subjectToken("token", value);
    return true;
  } catch {
    return false;
  }
}

const join = (...tokens: string[]): string => [SUBJECT_ROOT, ...tokens].join(".");

/** Builders for every bus subject; each validates its tokens and is pure. */
export const subjects = {
  /** `codex.evt.<hostId>.<threadId>`: one session's events (stream CODEX_EVENTS). */
  sessionEvents: (hostId: string, threadId: string): string =>
    join("evt", subjectToken("hostId", hostId), subjectToken("threadId", threadId)),
  /** `codex.evt.<hostId>.*`: every session event of one host. */
  hostSessionEvents: (hostId: string): string => join("evt", subjectToken("hostId", hostId), "*"),
  /** `codex.evt.>`: every session event of every host. */
  allSessionEvents: (): string => join("evt", ">"),
  /** `codex.host.<hostId>`: host lifecycle (connected, heartbeat summary, disconnected). */
  hostLifecycle: (hostId: string): string => join("host", subjectToken("hostId", hostId)),
  /** `codex.host.*`: lifecycle of every host. */
  allHostLifecycle: (): string => join("host", "*"),
  /** `codex.cmd.<verb>`: command requests, served by the policy queue group. */
  command: (verb: string): string => join("cmd", subjectToken("verb", verb)),
  /** `codex.cmd.*`: every command verb (what the policy service subscribes to). */
  allCommands: (): string => join("cmd", "*"),
  /** `codex.rpc.<hostId>`: calls into one host agent; only the policy service may publish here. */
  hostRpc: (hostId: string): string => join("rpc", subjectToken("hostId", hostId)),
  /** `codex.audit.<kind>`: audit records (stream AUDIT). */
  audit: (kind: string): string => join("audit", subjectToken("kind", kind)),
  /** `codex.audit.>`: every audit record. */
  allAudit: (): string => join("audit", ">"),
  /** `codex.fleet.<kind>`: what a Claw must know (stream FLEET). */
  fleet: (kind: string): string => join("fleet", subjectToken("kind", kind)),
  /** `codex.fleet.>`: every fleet notice. */
  allFleet: (): string => join("fleet", ">"),
  /**
   * `codex.admin.<area>.<op>`: operator requests that change the supervisor itself (policy documents, host
   * tokens), served by the policy service in its queue group; only operator credentials may publish here.
   */
  admin: (area: string, op: string): string => join("admin", subjectToken("area", area), subjectToken("op", op)),
  /** `codex.admin.>`: every operator request (what the policy service subscribes to). */
  allAdmin: (): string => join("admin", ">"),
  /**
   * `codex.auth.<area>.<op>`: sign-in checks (`codex.auth.operator.signin|status`), served by the policy service in
   * its queue group; clients (the dashboard) may ask them, and they never carry a secret.
   */
  auth: (area: string, op: string): string => join("auth", subjectToken("area", area), subjectToken("op", op)),
  /** `codex.auth.>`: every sign-in check (what the policy service subscribes to). */
  allAuth: (): string => join("auth", ">"),
  /** `codex.registry.sessions.list`: request/reply, list sessions with filters and paging. */
  registrySessionsList: (): string => join("registry", "sessions", "list"),
  /** `codex.registry.sessions.get`: request/reply, one session. */
  registrySessionsGet: (): string => join("registry", "sessions", "get"),
  /** `codex.registry.sessions.resolve`: request/reply, the sessions a typed id or prefix names. */
  registrySessionsResolve: (): string => join("registry", "sessions", "resolve"),
  /** `codex.registry.hosts.list`: request/reply, every host. */
  registryHostsList: (): string => join("registry", "hosts", "list"),
} as const;

/** Queue group that serves `codex.cmd.*` so each command is handled by exactly one policy instance. */
export const POLICY_QUEUE_GROUP = "policy";
