/** The MCP edge `openclaw-codex-supervisor`: its public surface. */
export { createEdgeServer } from "./server.js";
export { checkedCaller, sessionCaller, type SessionCaller } from "./session-caller.js";
export {
  EdgeIdentity,
  type EdgeIdentityOptions,
  type IdentityRefusal,
  type IdentityResult,
} from "./identity.js";
export {
  DEFAULT_TOKEN_TTL_MS,
  MAX_TOKEN_TTL_MS,
  newEdgeSecret,
  sessionToken,
  ticketToken,
  verifyToken,
  type MintOptions,
  type TokenCheck,
  type TokenSubject,
  type VerifiedToken,
} from "./tokens.js";
export {
  startMcpHttpEdge,
  DEFAULT_MAX_BODY_BYTES,
  MCP_PATH,
  type McpHttpEdge,
  type McpHttpEdgeOptions,
} from "./http.js";
export { humanMcpConfig, spawnMcpConfig } from "./codex-config.js";
export { defaultSecretFile, ensureEdgeSecret } from "./secret-file.js";
