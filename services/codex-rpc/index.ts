/** Public surface of the Codex app-server client. */
export { CodexRpcClient, connectCodex } from "./client.js";
export type { CallOptions, CodexRpcOptions, InitializeOptions } from "./options.js";
export { leaveToOwner } from "./routing.js";
export type { InvalidServerRequestHandler, RawNotification, ServerRequestHandler } from "./routing.js";
export { daemonSocketPath, describeEndpoint, parseEndpoint } from "./endpoint.js";
export type { Endpoint } from "./endpoint.js";
export { CodexRpcError, isCodexRpcError } from "./errors.js";
export type { CodexRpcErrorCode } from "./errors.js";
export { findActiveTurnId } from "./turns.js";
