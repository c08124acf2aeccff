/** The host agent redacts with the shared rules in schemas/redact.ts (every output edge uses the same ones). */
export * from "../../schemas/redact.js";
