/**
 * The edge's resources: `codex://sessions` (the sessions the caller may see), `codex://sessions/{sessionId}`
 * (one session) and `codex://sessions/{sessionId}/transcript` (its recent turns, summary view), the last two as
 * templates that complete session ids; the first lists every visible session, the second the caller's own
 * transcript (the one a session may read by default: another's needs a policy rule). Each read is a command like the tools',
 * bounded and redacted the same way; a refused read is an error naming the reason and the next step.
 */
import { ResourceTemplate, type McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { ReadResourceResult } from "@modelcontextprotocol/sdk/types.js";
import type { HostReadResult } from "../../schemas/host-rpc.js";
import { redact } from "../../schemas/redact.js";
import type { SessionRecord } from "../../schemas/registry.js";
import type { z } from "zod";
import type { SessionCaller } from "./session-caller.js";
import { adviceFor, briefOf } from "./tool-results.js";
import { transcriptOf } from "./tools.js";

/** Most sessions a listing or a completion returns. */
const LIST_LIMIT = 100;

/** A resource read refused by the command path (it becomes a JSON-RPC error with this message). */
export class ResourceReadError extends Error {
  override readonly name = "ResourceReadError";
}

async function visibleSessions(caller: SessionCaller): Promise<SessionRecord[]> {
  const result = await caller.command("list", { filter: {}, limit: LIST_LIMIT });
  if (!result.ok) throw new ResourceReadError(`${result.code}: ${result.message}. ${adviceFor("list", result)}`);
  return (result.data as { sessions: SessionRecord[] }).sessions;
}

const json = (uri: string, value: unknown): ReadResourceResult => ({
  contents: [{ uri, mimeType: "application/json", text: JSON.stringify(redact(value)) }],
});
const idOf = (value: string | string[] | undefined): string =>
  Array.isArray(value) ? (value[0] ?? "") : (value ?? "");

/** Registers the three resources on `server` for the session `caller` calls as. */
export function registerResources(server: McpServer, caller: SessionCaller): void {
  const complete = {
    sessionId: async (prefix: string) =>
      (await visibleSessions(caller).catch(() => []))
        .map((s) => s.sessionId)
        .filter((id) => id.startsWith(prefix))
        .slice(0, LIST_LIMIT),
  };
  server.registerResource(
    "sessions",
    "codex://sessions",
    {
      title: "Codex sessions",
      description: "The supervised sessions this session may see",
      mimeType: "application/json",
    },
    async (uri) =>
      json(uri.href, { sessions: (await visibleSessions(caller)).map((s) => briefOf(s, caller.sessionId)) }),
  );
  server.registerResource(
    "session",
    new ResourceTemplate("codex://sessions/{sessionId}", {
      list: async () => ({
        resources: (await visibleSessions(caller)).map((s) => ({
          uri: `codex://sessions/${s.sessionId}`,
          name: `session ${s.sessionId}`,
          mimeType: "application/json",
        })),
      }),
      complete,
    }),
    {
      title: "A Codex session",
      description: "One session's registry record (status, workspace, summary...)",
      mimeType: "application/json",
    },
    async (uri, vars) => {
      const id = idOf(vars.sessionId);
      const found = (await visibleSessions(caller)).find((s) => s.sessionId === id);
      if (!found)
        throw new ResourceReadError(
          `not_found: no session ${id} you may see. Read codex://sessions for the ids you can use.`,
        );
      return json(uri.href, briefOf(found, caller.sessionId));
    },
  );
  server.registerResource(
    "transcript",
    new ResourceTemplate("codex://sessions/{sessionId}/transcript", {
      // Only the caller's own transcript is listed: that is what every session may read by default; another
      // session's is read by its URI where a policy rule allows it.
      list: async () => ({
        resources: (await visibleSessions(caller))
          .filter((s) => s.sessionId === caller.sessionId)
          .map((s) => ({
            uri: `codex://sessions/${s.sessionId}/transcript`,
            name: `transcript of ${s.sessionId}`,
            mimeType: "application/json",
          })),
      }),
      complete,
    }),
    {
      title: "A session's transcript",
      description:
        "The latest turns of a session: user and agent messages, long texts cut. Your own by default; another session's where a policy rule allows it",
      mimeType: "application/json",
    },
    async (uri, vars) => {
      const id = idOf(vars.sessionId);
      const result = await caller.command("read", { target: { sessionId: id }, limit: 10, view: "summary" });
      if (!result.ok) throw new ResourceReadError(`${result.code}: ${result.message}. ${adviceFor("read", result)}`);
      return json(uri.href, transcriptOf(id, result.data as z.infer<typeof HostReadResult>, false));
    },
  );
}
