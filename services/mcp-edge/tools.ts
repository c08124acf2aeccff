/**
 * The nine tools of `openclaw-codex-supervisor`. Each is one command on the command path, sent as the calling
 * session (see session-caller.ts); the policy service decides it. Inputs are checked by their zod schemas
 * (a bad argument is an `isError` result and runs nothing), outputs are `structuredContent`.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { CommandVerb } from "../../schemas/commands.js";
import type { HostReadResult } from "../../schemas/host-rpc.js";
import * as T from "../../schemas/mcp-tools.js";
import type { SessionRecord } from "../../schemas/registry.js";
import type { z } from "zod";
import type { SessionCaller } from "./session-caller.js";
import { boundedItem, bounded, briefOf, commandError, toolOk } from "./tool-results.js";

type ReadData = z.infer<typeof HostReadResult>;

/** The bounded transcript the read tool and the transcript resource return. Pure. */
export function transcriptOf(sessionId: string, data: ReadData, raw: boolean): z.infer<typeof T.TranscriptOutput> {
  return {
    sessionId,
    turns: data.turns.map((t) => ({
      id: t.id,
      status: t.status,
      messages: t.messages.map((m) => ({ role: m.role, text: bounded(m.text) })),
      ...(raw && t.items ? { items: t.items.map(boundedItem) } : {}),
    })),
    nextCursor: data.nextCursor,
  };
}

/** Runs one command and maps its result: `shape` turns the command's data into the tool's structured content. */
async function run(
  caller: SessionCaller,
  verb: CommandVerb,
  args: unknown,
  shape: (data: never) => Record<string, unknown>,
): Promise<CallToolResult> {
  const result = await caller.command(verb, args);
  if (!result.ok) return commandError(verb, result);
  return toolOk(shape(result.data as never));
}

const readOnly = { readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false };
const target = (sessionId: string) => ({ sessionId });

/** Registers every tool on `server` for the session `caller` calls as. */
export function registerTools(server: McpServer, caller: SessionCaller): void {
  const self = caller.sessionId;
  server.registerTool(
    "codex_sessions_list",
    {
      title: "List Codex sessions",
      description:
        "Lists the supervised Codex sessions you may see (your peers and yourself, marked self): host, workspace, repo, branch, status, whether a person is attached, summary.",
      inputSchema: T.ListInput,
      outputSchema: T.ListOutput,
      annotations: readOnly,
    },
    async (a) => {
      const filter = {
        ...(a.host ? { host: a.host } : {}),
        ...(a.repo ? { repo: a.repo } : {}),
        ...(a.status ? { status: a.status } : {}),
        ...(a.group ? { group: a.group } : {}),
      };
      return run(
        caller,
        "list",
        { filter, limit: a.limit },
        (d: { sessions: SessionRecord[]; hidden: number; nextCursor: string | null }) => ({
          sessions: d.sessions.map((s) => briefOf(s, self)),
          hidden: d.hidden,
          nextCursor: d.nextCursor,
        }),
      );
    },
  );
  server.registerTool(
    "codex_session_read",
    {
      title: "Read a session's transcript",
      description:
        "Reads a session's recent turns, newest first: user and agent messages (raw: every item, only where a policy grants raw reads). Long texts are cut. By default you may read your own session only; another session's transcript needs a policy rule.",
      inputSchema: T.ReadInput,
      outputSchema: T.TranscriptOutput,
      annotations: readOnly,
    },
    async (a) =>
      run(
        caller,
        "read",
        {
          target: target(a.sessionId ?? self),
          limit: a.limit,
          ...(a.cursor ? { cursor: a.cursor } : {}),
          view: a.raw ? "raw" : "summary",
        },
        (d: ReadData) => transcriptOf(a.sessionId ?? self, d, a.raw),
      ),
  );
  server.registerTool(
    "codex_session_send",
    {
      title: "Message a peer session",
      description:
        "Sends text to a peer session: starts a turn when it is idle, steers its running turn otherwise. Disabled unless a policy allows this session to send; loops and hops are bounded.",
      inputSchema: T.SendInput,
      outputSchema: T.SendOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async (a) =>
      run(
        caller,
        "send",
        {
          target: target(a.sessionId),
          text: a.text,
          mode: a.mode,
          ...(a.expectedTurnId ? { expectedTurnId: a.expectedTurnId } : {}),
        },
        (d: { action: string; turnId: string }) => ({ sessionId: a.sessionId, action: d.action, turnId: d.turnId }),
      ),
  );
  server.registerTool(
    "codex_session_interrupt",
    {
      title: "Interrupt a session's turn",
      description:
        "Interrupts the running turn of a session. Disabled unless a policy allows this session to interrupt.",
      inputSchema: T.InterruptInput,
      outputSchema: T.InterruptOutput,
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    async (a) =>
      run(
        caller,
        "interrupt",
        { target: target(a.sessionId), ...(a.turnId ? { turnId: a.turnId } : {}) },
        (d: { turnId: string }) => ({ sessionId: a.sessionId, turnId: d.turnId }),
      ),
  );
  server.registerTool(
    "codex_endpoint_probe",
    {
      title: "Probe a session's Codex endpoint",
      description:
        "Reports whether a session's host agent and Codex app-server are up: host status, app-server connection, agent version, last heartbeat, the session's status and running turn.",
      inputSchema: T.ProbeInput,
      outputSchema: T.ProbeOutput,
      annotations: readOnly,
    },
    async (a) => run(caller, "probe", { target: target(a.sessionId ?? self) }, (d: Record<string, unknown>) => d),
  );
  server.registerTool(
    "claw_report_progress",
    {
      title: "Report your progress",
      description:
        "Records your progress (a short summary, optionally percent done and the current step) in the supervisor's registry and tells the Claw.",
      inputSchema: T.ProgressInput,
      outputSchema: T.ProgressOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
    },
    async (a) =>
      run(
        caller,
        "progress",
        {
          target: target(self),
          summary: a.summary,
          ...(a.percent === undefined ? {} : { percent: a.percent }),
          ...(a.step ? { step: a.step } : {}),
        },
        () => ({ sessionId: self, summary: a.summary, recorded: true }),
      ),
  );
  server.registerTool(
    "claw_ask",
    {
      title: "Ask the Claw",
      description:
        "Asks the Claw (the supervising agent) for help, delegation or a decision, and returns at once with a correlation id. Do not wait for the answer in this turn: it arrives later as a new message in this session.",
      inputSchema: T.AskInput,
      outputSchema: T.AskOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async (a) =>
      run(
        caller,
        "ask",
        { target: target(self), question: a.question, kind: a.kind },
        (d: { correlationId: string; kind: string }) => ({
          sessionId: self,
          correlationId: d.correlationId,
          kind: d.kind,
          note: "the Claw answers later with a new message in this session; finish or pause your turn meanwhile",
        }),
      ),
  );
  server.registerTool(
    "codex_spawn",
    {
      title: "Spawn a helper session",
      description:
        "Starts a new autonomous Codex session with a task; returns its session id and the command a person runs to attach to it. Disabled unless a policy allows this session to spawn.",
      inputSchema: T.SpawnInput,
      outputSchema: T.SpawnOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async (a) =>
      run(
        caller,
        "spawn",
        {
          host: a.hostId ? { hostId: a.hostId } : {},
          cwd: a.cwd,
          task: a.task,
          ...(a.group ? { group: a.group } : {}),
        },
        (d: { hostId: string; sessionId: string; attachCommand: string }) => ({
          hostId: d.hostId,
          sessionId: d.sessionId,
          attachCommand: d.attachCommand,
        }),
      ),
  );
  server.registerTool(
    "codex_handoff",
    {
      title: "Hand this session off",
      description:
        "Records a request that a person or a peer session take this session over, with a note. Disabled unless a policy allows this session to hand off.",
      inputSchema: T.HandoffInput,
      outputSchema: T.HandoffOutput,
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    async (a) => {
      if (a.to === "session" && !a.sessionId)
        return commandError("handoff", {
          ok: false,
          code: "invalid",
          message: "a handoff to a session needs sessionId (the peer that takes over)",
          retryable: false,
        });
      const to =
        a.to === "human"
          ? { kind: "human", ...(a.who ? { who: a.who } : {}) }
          : { kind: "session", sessionId: a.sessionId };
      return run(caller, "handoff", { target: target(self), to, note: a.note }, (d: { attachCommand: string }) => ({
        sessionId: self,
        to: a.to === "human" ? `human${a.who ? `:${a.who}` : ""}` : `session:${a.sessionId}`,
        attachCommand: d.attachCommand,
      }));
    },
  );
}
