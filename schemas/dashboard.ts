/**
 * The dashboard's wire shapes, shared by its server (services/dashboard/server/) and its page
 * (services/dashboard/web/): the JSON API under `/api/` and the one WebSocket per tab at `/ws`.
 *
 * Live data: the server watches the registry's KV views (`codex-sessions`, `codex-hosts`). A revision is the pair
 * of those buckets' stream sequences, so it means the same thing on every dashboard instance and across restarts.
 * On connect the page says the last revision it applied (`hello.since`, null on a first load); the server answers
 * with a `snapshot`, or with a `changes` batch holding every key written after that revision (deleted keys as
 * `removed`), then keeps sending `changes`, coalesced (each key's latest value only), a `ping` every
 * `heartbeatMs`, FLEET notices as `notice` (live only: the view is the truth, notices are news), and who owns
 * which session as `claws` (Claw groups, issue 18).
 */
import { z } from "zod";
import { ClawsResult } from "./claw-groups.js";
import { CommandVerb } from "./commands.js";
import { HostRecord, SessionRecord } from "./registry.js";

/** An operator's role: `operator` may use every control policy grants; `viewer` only looks. */
export const OperatorRole = z.enum(["operator", "viewer"]);
export type OperatorRole = z.infer<typeof OperatorRole>;

/** The view's revision: the last applied stream sequence of the sessions and of the hosts bucket. */
export const ViewRevision = z.strictObject({
  sessions: z.number().int().nonnegative(),
  hosts: z.number().int().nonnegative(),
});
export type ViewRevision = z.infer<typeof ViewRevision>;

/** One session as the page gets it: the record, its KV key, fleet-wide short id, and when the registry wrote it. */
export const SessionRow = z.strictObject({
  /** KV key `<hostId>.<threadId>`: the row's identity. */
  key: z.string(),
  shortId: z.string(),
  record: SessionRecord,
  /** The KV entry's revision (stream sequence). */
  revision: z.number().int().nonnegative(),
  /** When the registry wrote this value (the KV entry's time, unix ms): where change-to-screen latency starts. */
  writtenAtMs: z.number().int().nonnegative(),
});
export type SessionRow = z.infer<typeof SessionRow>;

/** One host as the page gets it. */
export const HostRow = z.strictObject({
  key: z.string(),
  record: HostRecord,
  revision: z.number().int().nonnegative(),
  writtenAtMs: z.number().int().nonnegative(),
});
export type HostRow = z.infer<typeof HostRow>;

/** A FLEET notice as the page shows it (its kind, session, one line). */
export const NoticeRow = z.strictObject({
  seq: z.number().int().nonnegative(),
  kind: z.string(),
  hostId: z.string().nullable(),
  sessionId: z.string().nullable(),
  text: z.string(),
  atMs: z.number().int().nonnegative(),
});
export type NoticeRow = z.infer<typeof NoticeRow>;

/** Page → server. `hello` first (and only once), with the session's key; `pong` answers `ping`. */
export const ClientMessage = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("hello"),
    since: ViewRevision.nullable(),
    /** The session's key (`POST /api/signin`'s `key`): without the right one the socket gets `bye` and 4401. */
    key: z.string().max(200).optional(),
  }),
  z.strictObject({ type: z.literal("pong"), t: z.number() }),
]);
export type ClientMessage = z.infer<typeof ClientMessage>;

/** Server → page. */
export const ServerMessage = z.discriminatedUnion("type", [
  z.strictObject({
    type: z.literal("snapshot"),
    rev: ViewRevision,
    sessions: z.array(SessionRow),
    hosts: z.array(HostRow),
    heartbeatMs: z.number().int().positive(),
  }),
  z.strictObject({
    type: z.literal("changes"),
    /** The revision the batch starts after (the page's own) and the one it brings the page to. */
    from: ViewRevision,
    rev: ViewRevision,
    sessions: z.array(SessionRow),
    removedSessions: z.array(z.string()),
    hosts: z.array(HostRow),
    removedHosts: z.array(z.string()),
    heartbeatMs: z.number().int().positive().optional(),
  }),
  z.strictObject({ type: z.literal("ping"), t: z.number() }),
  z.strictObject({ type: z.literal("notice"), notice: NoticeRow }),
  /**
   * Who owns which session (issue 18): the policy service's `claws` answer, asked by the server every few seconds
   * while a page is connected; sent after `hello` when one is known and then each time it changes (not for ages
   * alone: the page ages `heldForMs`, `renewedAgoMs` and `seenAgoMs` from when it received them).
   * `configured: false`: no Claw groups, one Claw drives every session (the page shows no ownership).
   */
  z.strictObject({ type: z.literal("claws"), claws: ClawsResult }),
  /** Why the server is closing (then it closes): `unauthenticated`, `revoked`, `bad_message`, `shutting_down`. */
  z.strictObject({ type: z.literal("bye"), code: z.string(), message: z.string() }),
]);
export type ServerMessage = z.infer<typeof ServerMessage>;

/** WebSocket close codes the server uses (4000-4999 are the application's). */
export const WS_CLOSE = { unauthenticated: 4401, forbiddenOrigin: 4403, badMessage: 4400, shuttingDown: 4503 } as const;

/** `POST /api/signin`. */
export const SignInRequest = z.strictObject({ token: z.string().min(1).max(500) });
/** Who is signed in (`GET /api/me`). */
export const Me = z.strictObject({ name: z.string(), role: OperatorRole });
export type Me = z.infer<typeof Me>;
/**
 * `POST /api/signin`'s data: who, and the session's key, which the page keeps in localStorage (its own origin's)
 * and sends as header `X-Claw-Key` on every other API call and as `hello.key` (the cookie alone is not enough:
 * browsers send it to every port of the host).
 */
export const SignInReply = Me.extend({ key: z.string().min(1) });
export type SignInReply = z.infer<typeof SignInReply>;

/** The verbs the page may send through `POST /api/command` (list/probe/progress/ask are not the page's). */
export const DashboardVerb = CommandVerb.extract([
  "read",
  "send",
  "interrupt",
  "spawn",
  "handoff",
  "broadcast",
  "mark",
  "assign",
  "reply",
  "approve",
]);
export type DashboardVerb = z.infer<typeof DashboardVerb>;

/**
 * `POST /api/command`: one command, sent by the server to the policy service with caller
 * `{ role: <the operator's role>, id: <the operator's name> }`; `args` is checked there against the verb's schema.
 * The answer is the policy service's `CommandResult` as it came (`{ok:true,data}` or `{ok:false,code,message,...}`).
 */
export const DashboardCommand = z.strictObject({
  verb: DashboardVerb,
  args: z.record(z.string(), z.unknown()),
  /** The page makes one per click, so a retried click never runs twice. */
  idempotencyKey: z.string().min(8).max(200),
});
export type DashboardCommand = z.infer<typeof DashboardCommand>;

/** `GET /api/audit` query: the CLI's `audit` filters. Times are unix ms. */
export const AuditQuery = z.strictObject({
  session: z.string().min(1).max(200).optional(),
  caller: z.string().min(1).max(200).optional(),
  verb: z.string().min(1).max(100).optional(),
  kind: z.string().min(1).max(100).optional(),
  since: z.coerce.number().int().nonnegative().optional(),
  until: z.coerce.number().int().nonnegative().optional(),
  limit: z.coerce.number().int().min(1).max(1_000).default(100),
});
export type AuditQuery = z.infer<typeof AuditQuery>;

/** An API failure: HTTP status plus this body; `code` is a CommandFailure code or `unauthenticated`/`forbidden`. */
export const ApiFailure = z.strictObject({ ok: z.literal(false), code: z.string(), message: z.string() });
export type ApiFailure = z.infer<typeof ApiFailure>;
