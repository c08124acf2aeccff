/**
 * How Codex is told about the edge: the `thread/start` config injected into spawned sessions (with their
 * spawn-ticket token, tools approved in advance so a call never waits on an approval prompt), and the
 * `config.toml` snippet and `codex mcp add` line for a session a person started. Pure apart from the clock.
 */
import { MCP_SERVER_NAME } from "../../schemas/mcp-tools.js";
import { DEFAULT_TOKEN_TTL_MS, sessionToken, ticketToken, type MintOptions } from "./tokens.js";

/**
 * The thread config that attaches `url` to a spawned session; `spawnTicket` is the spawn's command id. Its
 * token expires after `ttlMs` (a week) like any other, but the edge keeps accepting it while the session lives.
 */
export function spawnMcpConfig(
  url: string,
  secret: string,
  o: Pick<MintOptions, "ttlMs"> = {},
): (spawnTicket: string) => Record<string, unknown> {
  return (spawnTicket) => ({
    mcp_servers: {
      [MCP_SERVER_NAME]: {
        url,
        http_headers: { Authorization: `Bearer ${ticketToken(secret, spawnTicket, o)}` },
        default_tools_approval_mode: "approve",
      },
    },
  });
}

const tomlString = (s: string) => JSON.stringify(s);

/**
 * The `config.toml` table attaching the HTTP edge at `url` for `sessionId` (on `hostId`), and the stdio
 * `codex mcp add` line, with a token issued now and expiring after `ttlMs` (default a week).
 */
export function humanMcpConfig(
  url: string,
  secret: string,
  sessionId: string,
  o: MintOptions & { hostId?: string | null } = {},
): { toml: string; mcpAdd: string; token: string; issuedAtMs: number; expiresAtMs: number } {
  const issuedAtMs = Math.floor(o.nowMs ?? Date.now());
  const expiresAtMs = issuedAtMs + Math.floor(o.ttlMs ?? DEFAULT_TOKEN_TTL_MS);
  const token = sessionToken(secret, sessionId, { ...o, nowMs: issuedAtMs });
  const toml = [
    `[mcp_servers.${MCP_SERVER_NAME}]`,
    `url = ${tomlString(url)}`,
    `http_headers = { Authorization = ${tomlString(`Bearer ${token}`)} }`,
    `default_tools_approval_mode = "approve"`,
    "",
  ].join("\n");
  const mcpAdd = `codex mcp add ${MCP_SERVER_NAME} --env CLAW_MCP_TOKEN=${token} -- claw-supervisor mcp`;
  return { toml, mcpAdd, token, issuedAtMs, expiresAtMs };
}
