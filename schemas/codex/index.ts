/** The Codex app-server protocol subset the supervisor uses (codex-cli 0.169.0). */
export * from "./thread.js";
export * from "./methods.js";
export * from "./notifications.js";
export * from "./server-requests.js";
export * from "./jsonrpc.js";
