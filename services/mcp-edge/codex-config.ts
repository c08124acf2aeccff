/**
 * How Codex is told about the edge: the `thread/start` config injected into spawned sessions (with their
 * spawn-ticket token, tools approved in advance so a call never waits on an approval prompt), and the
 * `config.toml` snippet and `codex mcp add` line for a session a person started. Pure.
 */
import { MCP_SERVER_NAME } from "../../schemas/mcp-tools.js";
import { sessionToken, ticketToken } from "./tokens.js";

/** The thread config that attaches `url` to a spawned session; `spawnTicket` is the spawn's command id. Pure. */
export function spawnMcpConfig(url: string, secret: string): (spawnTicket: string) => Record<string, unknown> {
  return (spawnTicket) => ({
    mcp_servers: {
      [MCP_SERVER_NAME]: {
        url,
        http_headers: { Authorization: `Bearer ${ticketToken(secret, spawnTicket)}` },
        default_tools_approval_mode: "approve",
      },
    },
  });
}

const tomlString = (s: string) => JSON.stringify(s);

/** The `config.toml` table attaching the HTTP edge at `url` for `sessionId`, and the stdio `codex mcp add` line. Pure. */
export function humanMcpConfig(
  url: string,
  secret: string,
  sessionId: string,
): { toml: string; mcpAdd: string; token: string } {
  const token = sessionToken(secret, sessionId);
  const toml = [
    `[mcp_servers.${MCP_SERVER_NAME}]`,
    `url = ${tomlString(url)}`,
    `http_headers = { Authorization = ${tomlString(`Bearer ${token}`)} }`,
    `default_tools_approval_mode = "approve"`,
    "",
  ].join("\n");
  const mcpAdd = `codex mcp add ${MCP_SERVER_NAME} --env CLAW_MCP_TOKEN=${token} -- claw-supervisor mcp`;
  return { toml, mcpAdd, token };
}
