/** Test support for the MCP edge (tests only): an MCP client connected over the SDK's in-memory transport to the edge server of one session, on the policy rig's bus. */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { NatsConnection } from "@nats-io/transport-node";
import { createEdgeServer } from "./server.js";
import { sessionCaller } from "./session-caller.js";

/** A connected client acting as `sessionId`; `call` returns the tool result, `close` ends both sides. */
export async function edgeClient(nc: NatsConnection, sessionId: string) {
  const server = createEdgeServer(sessionCaller(nc, sessionId, 10_000));
  const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
  await server.connect(serverSide);
  const client = new Client({ name: "edge-test", version: "0" });
  await client.connect(clientSide);
  return {
    client,
    call: async (name: string, args: Record<string, unknown>) =>
      (await client.callTool({ name, arguments: args })) as CallToolResult,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

/** The text of a tool result's first content part. */
export function textOf(result: CallToolResult): string {
  const first = result.content[0];
  return first && first.type === "text" ? first.text : "";
}

/** A raw MCP POST to the HTTP edge at `url` with `token` as bearer (a `tools/list` unless `body` is given). */
export function postMcp(
  url: string,
  token: string,
  body: string = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
    },
    body,
  });
}
