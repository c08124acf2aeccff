/**
 * The MCP edge's tool inputs and outputs (server `openclaw-codex-supervisor`): what a Codex session's model
 * may pass, with descriptions it can act on, and the structured content each tool returns.
 */
import { z } from "zod";
import { AskKind, MAX_ASK_TEXT, MAX_SUMMARY_TEXT, SendMode } from "./commands.js";
import { SessionStatus } from "./registry.js";

/** The MCP server's name, as Codex config and `codex mcp add` know it. */
export const MCP_SERVER_NAME = "openclaw-codex-supervisor";
/** Longest text a session may send a peer or spawn a task with through the edge, in characters. */
export const MAX_EDGE_TEXT = 20_000;
/** Longest message text the edge returns from a transcript; longer ones are cut with a marker. */
export const MAX_EDGE_MESSAGE = 4_000;

const sessionId = z
  .string()
  .min(1)
  .max(200)
  .describe("a session's id (its Codex thread id), as codex_sessions_list shows it");

/** One id part of a session reference: printable ASCII, no space, and nothing that would split a bus subject. */
const idPart = (what: string) =>
  z
    .string()
    .min(1, `${what} is empty`)
    .regex(/^[\x21-\x7e]+$/, `${what} must be printable ASCII with no spaces`)
    .refine((v) => !/[.*>]/.test(v), `${what} must not contain '.', '*' or '>'`);

/**
 * A session as `mcp-config` names it: its thread id, or `<hostId>/<threadId>` when the same thread id is known
 * on several hosts. At most 200 characters. Parsed to `{ hostId, sessionId }` (hostId null when not given).
 */
export const McpSessionRef = z
  .string()
  .min(1, "needs a session id (the Codex thread id, or <hostId>/<threadId>)")
  .max(200, "a session id is at most 200 characters")
  .transform((ref, ctx) => {
    const parts = ref.split("/");
    if (parts.length > 2) {
      ctx.addIssue({ code: "custom", message: "a session id is <threadId> or <hostId>/<threadId>: too many '/'" });
      return z.NEVER;
    }
    const [host, thread] = parts.length === 2 ? parts : [null, parts[0]];
    for (const [what, value] of [
      ["a host id", host],
      ["a session id", thread],
    ] as const) {
      if (value === null) continue;
      const checked = idPart(what).safeParse(value);
      if (!checked.success) {
        ctx.addIssue({ code: "custom", message: checked.error.issues[0]!.message });
        return z.NEVER;
      }
    }
    return { hostId: host, sessionId: thread! };
  });
export type McpSessionRef = z.output<typeof McpSessionRef>;

const TTL_UNITS_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A token lifetime as `mcp-config --ttl` takes it: `30m`, `12h`, `7d`; from a minute to a year. Parsed to ms. */
export const McpTokenTtl = z
  .string()
  .regex(/^[1-9][0-9]{0,5}[mhd]$/, "must be a number and a unit, m, h or d (e.g. 30m, 12h, 7d)")
  .transform((v) => Number(v.slice(0, -1)) * TTL_UNITS_MS[v.slice(-1) as keyof typeof TTL_UNITS_MS])
  .refine((ms) => ms <= 366 * TTL_UNITS_MS.d, "must be at most a year (366d)");

export const ListInput = z.strictObject({
  host: z.string().min(1).max(200).optional().describe("only sessions on this host"),
  repo: z.string().min(1).max(500).optional().describe("only sessions in this git repository"),
  status: SessionStatus.optional().describe("only sessions with this status"),
  group: z.string().min(1).max(200).optional().describe("only sessions in this group"),
  limit: z.number().int().min(1).max(100).default(50).describe("at most this many sessions (1-100, default 50)"),
});
export const ReadInput = z.strictObject({
  sessionId: sessionId
    .optional()
    .describe(
      "the session to read; default: this session. Another session's transcript needs a policy rule granting it",
    ),
  limit: z.number().int().min(1).max(20).default(5).describe("turns to return, newest first (1-20, default 5)"),
  cursor: z.string().min(1).max(500).optional().describe("nextCursor from the previous page"),
  raw: z
    .boolean()
    .default(false)
    .describe("every item instead of user and agent messages only (needs a policy granting readRaw)"),
});
export const SendInput = z.strictObject({
  sessionId,
  text: z.string().min(1, "text must not be empty").max(MAX_EDGE_TEXT).describe("the message for the peer session"),
  mode: SendMode.default("auto").describe(
    "auto: start a turn when idle, else steer the running one; start or steer only",
  ),
  expectedTurnId: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe("steer only this turn; a different running turn is refused"),
});
export const InterruptInput = z.strictObject({
  sessionId,
  turnId: z.string().min(1).max(200).optional().describe("interrupt only this turn"),
});
export const ProbeInput = z.strictObject({
  sessionId: sessionId.optional().describe("the session whose endpoint to probe; default: this session"),
});
export const ProgressInput = z.strictObject({
  summary: z
    .string()
    .min(1, "summary must not be empty")
    .max(MAX_SUMMARY_TEXT)
    .describe("one or two sentences: what is done and what comes next"),
  percent: z.number().int().min(0).max(100).optional().describe("how much of the task is done, 0-100"),
  step: z.string().min(1).max(200).optional().describe("the current step in a few words"),
});
export const AskInput = z.strictObject({
  question: z
    .string()
    .min(1, "question must not be empty")
    .max(MAX_ASK_TEXT)
    .describe("what you need from the Claw, with the context it needs to answer"),
  kind: AskKind.default("help").describe("help, delegate (hand a piece of work over) or decision"),
});
export const SpawnInput = z.strictObject({
  task: z
    .string()
    .min(1, "task must not be empty")
    .max(MAX_EDGE_TEXT)
    .describe("the helper session's first message: its whole task"),
  cwd: z
    .string()
    .min(1)
    .max(4096)
    .refine((p) => p.startsWith("/"), "cwd must be an absolute path")
    .describe("the helper's workspace, an absolute path on its host"),
  hostId: z
    .string()
    .min(1)
    .max(200)
    .optional()
    .describe("the host to start it on; default: the least-loaded online host"),
  group: z.string().min(1).max(200).optional().describe("a group to put the helper in"),
});
export const HandoffInput = z.strictObject({
  to: z.enum(["human", "session"]).describe("human: a person takes this session over; session: a peer session does"),
  who: z.string().min(1).max(200).optional().describe("for a human handoff: who should take over"),
  sessionId: sessionId.optional().describe("for a session handoff: the peer that takes over"),
  note: z.string().max(10_000).default("").describe("what the next owner needs to know"),
});

/** A session as the edge shows it: the registry record's public fields. */
export const SessionBrief = z.object({
  sessionId: z.string(),
  host: z.string(),
  workspace: z.string().nullable(),
  repo: z.string().nullable(),
  branch: z.string().nullable(),
  status: z.string(),
  humanAttached: z.boolean(),
  autonomous: z.boolean(),
  summary: z.string().nullable(),
  group: z.string().nullable(),
  activeTurnId: z.string().nullable(),
  /** True for the calling session itself. */
  self: z.boolean(),
});
export type SessionBrief = z.infer<typeof SessionBrief>;

export const ListOutput = z.object({
  sessions: z.array(SessionBrief),
  hidden: z.number().int(),
  nextCursor: z.string().nullable(),
});
export const TranscriptOutput = z.object({
  sessionId: z.string(),
  turns: z.array(
    z.object({
      id: z.string(),
      status: z.string(),
      messages: z.array(z.object({ role: z.string(), text: z.string() })),
      items: z.array(z.unknown()).optional(),
    }),
  ),
  nextCursor: z.string().nullable(),
});
export const SendOutput = z.object({ sessionId: z.string(), action: z.string(), turnId: z.string() });
export const InterruptOutput = z.object({ sessionId: z.string(), turnId: z.string() });
export const ProbeOutput = z.object({
  hostId: z.string(),
  sessionId: z.string(),
  hostStatus: z.string(),
  appServer: z.string().nullable(),
  agentVersion: z.string().nullable(),
  lastHeartbeatAt: z.number().nullable(),
  sessionStatus: z.string(),
  activeTurnId: z.string().nullable(),
});
export const ProgressOutput = z.object({ sessionId: z.string(), summary: z.string(), recorded: z.literal(true) });
export const AskOutput = z.object({
  sessionId: z.string(),
  correlationId: z.string(),
  kind: z.string(),
  note: z.string(),
});
export const SpawnOutput = z.object({ hostId: z.string(), sessionId: z.string(), attachCommand: z.string() });
export const HandoffOutput = z.object({ sessionId: z.string(), to: z.string(), attachCommand: z.string() });
