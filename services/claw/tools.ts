/**
 * The `fleet_*` tools: each turns the model's arguments into one command as the Claw (or, for hosts and the
 * inbox, one registry query or one pull from the Claw's inbox consumer) and returns the result nested under a
 * named key, so no reserved `details` key (`status`, `ok`, `error`...) is ever set at the top. Failures throw.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import type { TSchema } from "typebox";
import { redact } from "../../schemas/redact.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { listHosts, RegistryQueryError } from "../clients/registry-queries.js";
import type { FleetEvent } from "../../schemas/fleet.js";
import { FleetToolError, NOT_ACTING_MESSAGE, type ClawCaller } from "./claw-caller.js";
import { pullInbox } from "./fleet-consumers.js";
import { noticeLine } from "./fleet-notices.js";
import { redeliveryDelayMs, type Route } from "./ownership.js";
import { summarizeSessions } from "./summary.js";
import * as P from "./tool-params.js";

/** What a tool returns to OpenClaw. */
export interface FleetToolResult {
  content: { type: "text"; text: string }[];
  details: Record<string, unknown>;
}

/** One tool, in the shape `api.registerTool` takes. */
export interface FleetTool {
  name: string;
  label: string;
  description: string;
  parameters: TSchema;
  execute(toolCallId: string, params: Record<string, unknown>, signal?: AbortSignal): Promise<FleetToolResult>;
}

/** What the tools run against. */
export interface FleetToolDeps {
  caller: ClawCaller;
  nc: () => NatsConnection | null;
  inboxConsumer: string;
  /**
   * Claw groups (issue 18): what to do with a notice taken from the inbox (deliver, skip another Claw's, hold
   * one about a session nobody owns yet) and whether the Claw acts at all; absent: every notice is delivered.
   */
  route?: (event: FleetEvent, deliveryKey: string) => Promise<Route>;
  acting?: () => boolean;
}

/** The tool result for `details`, its JSON as the text, redacted. Pure. */
export function result(details: Record<string, unknown>): FleetToolResult {
  const safe = redact(details) as Record<string, unknown>;
  return { content: [{ type: "text", text: JSON.stringify(safe) }], details: safe };
}

/** `<hostId>/<threadId>` or a bare thread id, as a command target. Pure. */
export function targetOf(id: unknown): { sessionId: string; hostId?: string } {
  if (typeof id !== "string" || !id)
    throw new FleetToolError("invalid", "sessionId is required: call fleet_sessions for the ids.");
  const slash = id.indexOf("/");
  return slash > 0 ? { hostId: id.slice(0, slash), sessionId: id.slice(slash + 1) } : { sessionId: id };
}

const str = (v: unknown): string | undefined => (typeof v === "string" && v.length ? v : undefined);
const num = (v: unknown, d: number): number => (typeof v === "number" ? v : d);
function filterOf(p: Record<string, unknown>): Record<string, unknown> {
  const f: Record<string, unknown> = {};
  for (const k of ["host", "repo", "group", "status"]) if (str(p[k])) f[k] = p[k];
  for (const k of ["humanAttached", "autonomous"]) if (typeof p[k] === "boolean") f[k] = p[k];
  return f;
}
function connected(deps: FleetToolDeps): NatsConnection {
  const nc = deps.nc();
  if (!nc)
    throw new FleetToolError(
      "unavailable",
      "the claw-supervisor plugin is not connected to the supervisor's bus yet; check 'openclaw claw-supervisor status', then try again.",
    );
  return nc;
}

/** Every fleet tool over `deps`. */
export function fleetTools(deps: FleetToolDeps): FleetTool[] {
  const cmd = (verb: Parameters<ClawCaller["command"]>[0], args: unknown) => deps.caller.command(verb, args);
  const tool = (
    name: string,
    label: string,
    description: string,
    parameters: TSchema,
    run: (p: Record<string, unknown>) => Promise<Record<string, unknown>>,
  ): FleetTool => ({
    name,
    label,
    description,
    parameters,
    execute: async (_id, params) => result(await run(params ?? {})),
  });
  return [
    tool(
      "fleet_sessions",
      "Fleet sessions",
      "List the Codex sessions of the fleet with their true status (idle, active, waiting on approval or input, stale...), host, repo, branch, whether a person is attached, and summary. Use it first to find a session id, or to see what is running; filter by host, repo, group, status; page with cursor.",
      P.SessionsParams,
      async (p) => {
        const data = (await cmd("list", {
          filter: filterOf(p),
          limit: num(p.limit, 50),
          ...(str(p.cursor) ? { cursor: p.cursor } : {}),
        })) as { sessions: SessionRecord[]; nextCursor: string | null; hidden: number };
        return { sessions: data.sessions, nextCursor: data.nextCursor, hiddenByPolicy: data.hidden };
      },
    ),
    tool(
      "fleet_hosts",
      "Fleet hosts",
      "List the machines of the fleet and whether each is online, degraded, offline or stale, with its session count. Use it when a session looks stale or a host is offline, or to choose where to spawn.",
      P.HostsParams,
      async () => {
        try {
          return { hosts: await listHosts(connected(deps)) };
        } catch (err) {
          if (err instanceof RegistryQueryError)
            throw new FleetToolError("timeout", `fleet_hosts failed: ${err.message}. Try again in a moment.`);
          throw err;
        }
      },
    ),
    tool(
      "fleet_read",
      "Read a session",
      "Read a Codex session's recent turns (user and agent messages, newest first, bounded). Use it before sending to a session, to see what it did, what it asks or why it waits.",
      P.ReadParams,
      async (p) => ({
        transcript: await cmd("read", {
          target: targetOf(p.sessionId),
          limit: num(p.limit, 5),
          ...(str(p.cursor) ? { cursor: p.cursor } : {}),
        }),
      }),
    ),
    tool(
      "fleet_send",
      "Send to a session",
      "Send a message to a Codex session: an idle session starts a turn with it, a busy one is steered with it (mode start or steer to insist on one). Use it to give a session work, answer it, or redirect it.",
      P.SendParams,
      async (p) => ({
        sent: await cmd("send", { target: targetOf(p.sessionId), text: p.text, mode: str(p.mode) ?? "auto" }),
      }),
    ),
    tool(
      "fleet_interrupt",
      "Interrupt a session",
      "Stop the turn a Codex session is running. Use it when a session is going the wrong way or must stop now.",
      P.InterruptParams,
      async (p) => ({
        interrupted: await cmd("interrupt", { target: targetOf(p.sessionId) }),
      }),
    ),
    tool(
      "fleet_spawn",
      "Spawn a session",
      "Start a new autonomous Codex session on a host with a task; a person can attach to it later with the returned command. Use it to delegate new work.",
      P.SpawnParams,
      async (p) => ({
        spawned: await cmd("spawn", {
          task: p.task,
          cwd: p.cwd,
          host: { ...(str(p.hostId) ? { hostId: p.hostId } : {}), ...(str(p.repo) ? { repo: p.repo } : {}) },
          ...(str(p.group) ? { group: p.group } : {}),
        }),
      }),
    ),
    tool(
      "fleet_handoff",
      "Hand off a session",
      "Hand a Codex session to a person (toHuman) or to another session (toSessionId), with a note. Use it when a session needs a human decision or another agent should take over.",
      P.HandoffParams,
      async (p) => {
        if (!str(p.toHuman) === !str(p.toSessionId))
          throw new FleetToolError("invalid", "fleet_handoff needs exactly one of toHuman or toSessionId.");
        const to = str(p.toSessionId)
          ? { kind: "session", sessionId: p.toSessionId }
          : { kind: "human", who: p.toHuman };
        return { handoff: await cmd("handoff", { target: targetOf(p.sessionId), to, note: str(p.note) ?? "" }) };
      },
    ),
    tool(
      "fleet_broadcast",
      "Broadcast to sessions",
      "Send one message to every session matching a filter (at least one of host, repo, group, status...), at most maxTargets of them. Use it for fleet-wide instructions such as 'rebase on main'.",
      P.BroadcastParams,
      async (p) => ({
        broadcast: await cmd("broadcast", {
          filter: filterOf(p),
          maxTargets: p.maxTargets,
          text: p.text,
          mode: str(p.mode) ?? "auto",
        }),
      }),
    ),
    tool(
      "fleet_mark",
      "Mark a session",
      "Mark a Codex session blocked, done or abandoned (none clears it). Use it to keep track of which sessions need nothing more.",
      P.MarkParams,
      async (p) => ({
        marked: await cmd("mark", {
          target: targetOf(p.sessionId),
          disposition: p.disposition === "none" ? null : p.disposition,
        }),
      }),
    ),
    tool(
      "fleet_assign",
      "Assign a session",
      "Put a Codex session in a group and/or give it an owner (empty string clears). Use it to organise the fleet so fleet_summarize and filters can work on a group.",
      P.AssignParams,
      async (p) => {
        if (typeof p.group !== "string" && typeof p.owner !== "string")
          throw new FleetToolError("invalid", "fleet_assign needs a group or an owner (empty string clears it).");
        const clear = (v: unknown) => (typeof v === "string" ? (v === "" ? null : v) : undefined);
        return {
          assigned: await cmd("assign", {
            target: targetOf(p.sessionId),
            group: clear(p.group),
            owner: clear(p.owner),
          }),
        };
      },
    ),
    tool(
      "fleet_reply",
      "Reply to a session's question",
      "Answer a question a Codex session asked the Claw (an ask event, with its correlation id). Use it whenever a session is waiting for the Claw's answer.",
      P.ReplyParams,
      async (p) => ({
        replied: await cmd("reply", {
          target: targetOf(p.sessionId),
          text: p.text,
          ...(str(p.correlationId) ? { correlationId: p.correlationId } : {}),
        }),
      }),
    ),
    tool(
      "fleet_approve",
      "Answer a held approval",
      "Accept or decline an approval a Codex session is waiting on, when the supervisor holds it for an answer (an approval-requested event: an autonomous session's command or file change an approvals 'ask' rule held, with its request id and deadline; unanswered it is declined at the deadline). Use it after judging the request (fleet_read for context). The first answer wins; a person's TUI session is theirs to answer.",
      P.ApproveParams,
      async (p) => {
        if (p.decision !== "accept" && p.decision !== "decline")
          throw new FleetToolError("invalid", "fleet_approve needs decision accept or decline.");
        return {
          approval: await cmd("approve", {
            target: targetOf(p.sessionId),
            decision: p.decision,
            ...(str(p.requestId) ? { requestId: p.requestId } : {}),
          }),
        };
      },
    ),
    tool(
      "fleet_summarize",
      "Summarize sessions",
      "A compact, bounded summary of a group of sessions (by group, host, repo or status): counts by status, today's spend (tokens and cost, overall and by group; sessions a budget stopped, with why; how many carry a budget warning), then the sessions needing attention first. Use it to get the big picture without reading every session.",
      P.SummarizeParams,
      async (p) => {
        const data = (await cmd("list", { filter: filterOf(p), limit: 1000 })) as {
          sessions: SessionRecord[];
          nextCursor: string | null;
        };
        const title =
          Object.entries(filterOf(p))
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(" ") || "all sessions";
        const s = summarizeSessions(data.sessions, {
          maxChars: num(p.maxChars, 2_000),
          maxSessions: num(p.maxSessions, 20),
          title: `Fleet summary (${title})`,
          spendAtMs: Date.now(),
        });
        return { summary: s.text, listed: s.listed, omitted: s.omitted, more: data.nextCursor !== null };
      },
    ),
    tool(
      "fleet_events",
      "Fleet inbox",
      "Take the Claw's pending fleet events (sessions going idle, progress reports, marks, assignments... and the urgent ones already announced), oldest first, and acknowledge them so they are not returned again. Use it on a heartbeat or when asked what happened in the fleet.",
      P.EventsParams,
      async (p) => {
        if (deps.acting && !deps.acting())
          throw new FleetToolError("unavailable", `fleet_events: ${NOT_ACTING_MESSAGE}`);
        const got = await pullInbox(connected(deps), deps.inboxConsumer, num(p.max, 20));
        const events: Record<string, unknown>[] = [];
        let skipped = 0;
        let held = 0;
        for (const d of got) {
          const e = d.event;
          const r: Route =
            e && deps.route ? await deps.route(e, `inbox:${d.msg.seq}`).catch(() => "wait" as const) : "deliver";
          if (r === "hold" || r === "wait") {
            held++;
            d.msg.nak(redeliveryDelayMs(r));
            continue;
          }
          if (r === "skip") skipped++;
          else if (e)
            events.push({
              id: e.id,
              kind: e.kind,
              priority: e.priority,
              hostId: e.hostId,
              sessionId: e.sessionId,
              atMs: e.atMs,
              line: noticeLine(e),
            });
          await d.msg.ackAck();
        }
        return {
          events,
          taken: events.length,
          ...(deps.route ? { skippedOtherClaws: skipped, heldForOwnership: held } : {}),
        };
      },
    ),
    tool(
      "fleet_escalate",
      "Escalate a session",
      "Hand a session you own (and a question about it) up to the Claw group above yours, with a reason; from the top group it goes to people (claw-supervisor attention). The session stays yours until a Claw of that group accepts it with fleet_accept. Use it when a session needs a decision or rights your group does not have.",
      P.EscalateParams,
      async (p) => ({
        escalated: await cmd("escalate", {
          target: targetOf(p.sessionId),
          reason: p.reason,
          ...(str(p.question) ? { question: p.question } : {}),
        }),
      }),
    ),
    tool(
      "fleet_accept",
      "Accept an escalated session",
      "Take over a session escalated to your group (a session-escalated event): its lease moves to you within a few seconds and a session-adopted event follows. Answer its question or act on it after that.",
      P.AcceptParams,
      async (p) => ({
        accepted: await cmd("accept", {
          target: targetOf(p.sessionId),
          ...(str(p.escalationId) ? { escalationId: p.escalationId } : {}),
        }),
      }),
    ),
    tool(
      "fleet_budget",
      "Fleet budgets",
      "Spend against the budgets of the supervisor's policy: each limit's use (tokens and dollars against its maximum, in its scope: one session or a group, and period: total, day or month) and state (ok, warning, over), each group's tokens and cost on a UTC day, the sessions a budget stopped (their send, reply and spawn are refused until an operator runs 'claw-supervisor budget lift') and the models with no price. Use it after a budget-warning or budget-stopped event, or before giving a group more work.",
      P.BudgetParams,
      async (p) => ({
        budget: await cmd("budget", {
          ...(str(p.group) ? { group: p.group } : {}),
          ...(str(p.day) ? { day: p.day } : {}),
        }),
      }),
    ),
    tool(
      "fleet_claws",
      "Fleet Claws",
      "List the Claw groups that share the fleet: each group's Claws and parent, which Claws are live, which Claw owns which session (with its lease epoch and age). Use it to see why a command was refused as not_owner, who else watches the fleet, or where an escalation goes. configured false: this Claw is the only one and drives every session.",
      P.ClawsParams,
      async (p) => ({ claws: await cmd("claws", str(p.group) ? { group: p.group } : {}) }),
    ),
  ];
}
