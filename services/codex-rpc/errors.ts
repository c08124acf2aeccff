/** Typed failures of the Codex app-server client. */

/** The closed set of ways a call to the app-server can fail. */
export type CodexRpcErrorCode = "timeout" | "closed" | "rpc_error" | "malformed" | "too_large";

const retryableCodes: ReadonlySet<CodexRpcErrorCode> = new Set(["timeout", "closed"]);

/** A failed call or connection; `rpcCode`/`rpcMessage` carry the server's own error for `rpc_error`. */
export class CodexRpcError extends Error {
  override readonly name = "CodexRpcError";
  /** True when retrying the same call on a (new) connection may succeed. */
  readonly retryable: boolean;

  constructor(
    readonly code: CodexRpcErrorCode,
    message: string,
    readonly details: { method?: string; rpcCode?: number; rpcMessage?: string; cause?: unknown } = {},
  ) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.retryable = retryableCodes.has(code) || (code === "rpc_error" && details.rpcCode === -32001);
  }

  /** The server's JSON-RPC error code, when it answered with an error. */
  get rpcCode(): number | undefined {
    return this.details.rpcCode;
  }

  /** The server's error message, when it answered with an error. */
  get rpcMessage(): string | undefined {
    return this.details.rpcMessage;
  }
}

/** True when `err` is a CodexRpcError with the given code. */
export function isCodexRpcError(err: unknown, code?: CodexRpcErrorCode): err is CodexRpcError {
  return err instanceof CodexRpcError && (code === undefined || err.code === code);
}
