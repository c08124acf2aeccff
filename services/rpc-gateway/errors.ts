/** Every way the gateway and its token store can fail; a closed set so callers can switch on it. */
export type GatewayErrorCode =
  | "invalid_options"
  | "invalid_host_id"
  | "token_not_found"
  | "token_store_missing"
  | "token_store_unavailable"
  | "listen_failed";

/** The one error type the gateway throws: a closed `code`, a `retryable` flag, and the original `cause`. */
export class GatewayError extends Error {
  override readonly name = "GatewayError";
  readonly code: GatewayErrorCode;
  readonly retryable: boolean;

  constructor(code: GatewayErrorCode, message: string, opts: { retryable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.retryable = opts.retryable ?? false;
  }
}
