/** The Codex app-server protocol subset the supervisor uses (codex-cli 0.171.0, checked by schemas/codex/conformance.test.ts). */
export * from "./thread.js";
export * from "./methods.js";
export * from "./notifications.js";
export * from "./server-requests.js";
export * from "./jsonrpc.js";
