/** One MCP server instance for one calling session: the tools and resources of `openclaw-codex-supervisor`. */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { MCP_SERVER_NAME } from "../../schemas/mcp-tools.js";
import { VERSION } from "../clients/version.js";
import { registerResources } from "./resources.js";
import type { SessionCaller } from "./session-caller.js";
import { registerTools } from "./tools.js";

/** A server whose every call runs as `caller`'s session; connect it to a transport. */
export function createEdgeServer(caller: SessionCaller): McpServer {
  const server = new McpServer(
    { name: MCP_SERVER_NAME, version: VERSION },
    {
      capabilities: { tools: {}, resources: {}, completions: {} },
      instructions:
        "Tools of the Claw Supervisor: see your peer sessions, report progress (claw_report_progress), ask the Claw for help " +
        "(claw_ask: the answer arrives later as a new message), spawn a helper, hand off. Writing to other sessions is off unless policy allows it.",
    },
  );
  registerTools(server, caller);
  registerResources(server, caller);
  return server;
}
