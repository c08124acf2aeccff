/** The MCP edge `openclaw-codex-supervisor`: its public surface. */
export { createEdgeServer } from "./server.js";
export { sessionCaller, type SessionCaller } from "./session-caller.js";
export { EdgeIdentity, type IdentityResult } from "./identity.js";
export { newEdgeSecret, sessionToken, ticketToken, verifyToken, type TokenSubject } from "./tokens.js";
export {
  startMcpHttpEdge,
  DEFAULT_MAX_BODY_BYTES,
  MCP_PATH,
  type McpHttpEdge,
  type McpHttpEdgeOptions,
} from "./http.js";
export { humanMcpConfig, spawnMcpConfig } from "./codex-config.js";
export { defaultSecretFile, ensureEdgeSecret } from "./secret-file.js";
