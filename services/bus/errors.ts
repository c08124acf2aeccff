import {
  AuthorizationError,
  ClosedConnectionError,
  ConnectionError,
  PermissionViolationError,
  RequestError,
} from "@nats-io/transport-node";
import { classifyRequestFailure } from "./request-failure.js";

/** Every way the bus can fail; a closed set so callers can switch on it exhaustively. */
export type BusErrorCode =
  | "invalid_subject_token"
  | "invalid_config"
  | "invalid_event"
  | "server_too_old"
  | "server_version_unknown"
  | "connect_failed"
  | "not_authorized"
  | "jetstream_unavailable"
  | "jetstream_api"
  | "stream_config_conflict"
  | "timeout"
  | "nats_server_not_found"
  | "nats_server_failed";

/** Options for a `BusError`: whether a retry can help, and the underlying error. */
export interface BusErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** The JetStream `err_code` when the error came from the JetStream API. */
  apiErrCode?: number;
}

/** The one error type the bus throws: a closed `code`, a `retryable` flag, and the original `cause`. */
export class BusError extends Error {
  override readonly name = "BusError";
  readonly code: BusErrorCode;
  readonly retryable: boolean;
  readonly apiErrCode: number | undefined;

  constructor(code: BusErrorCode, message: string, opts: BusErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    this.retryable = opts.retryable ?? false;
    this.apiErrCode = opts.apiErrCode;
  }
}

/** JetStream API `err_code` values the bus reacts to (from nats-server's errors.json). */
export const JsErrCode = {
  ClusterNoPeers: 10005,
  ClusterNotAvailable: 10008,
  ClusterNotLeader: 10009,
  ConsumerNotFound: 10014,
  InsufficientResources: 10023,
  NotEnabledForAccount: 10039,
  StreamNameExist: 10058,
  StreamNotFound: 10059,
  /** A failed `Nats-Expected-Last-Subject-Sequence` (compare-and-set) check. */
  StreamWrongLastSequence: 10071,
  StreamReplicasNotSupported: 10074,
  NotEnabled: 10076,
  /** The same check as StreamWrongLastSequence, as newer servers report it. */
  StreamWrongLastSequenceConstant: 10164,
} as const;

const retryableApiCodes: ReadonlySet<number> = new Set([
  JsErrCode.ClusterNoPeers,
  JsErrCode.ClusterNotAvailable,
  JsErrCode.ClusterNotLeader,
]);

/** What this module reads of @nats-io/jetstream's `JetStreamApiError` (and its subclasses). */
interface JetStreamApiErrorLike extends Error {
  apiError(): { err_code: number };
}

/**
 * True when `err` is a @nats-io/jetstream `JetStreamApiError` or one of its subclasses (`StreamNotFoundError`,
 * `ConsumerNotFoundError`...): a class of that name on its prototype chain, with the `apiError()` it answers.
 * Not `instanceof`, so that this module (which every connection loads, the CLI's too) does not load JetStream.
 */
function isJetStreamApiError(err: unknown): err is JetStreamApiErrorLike {
  if (!(err instanceof Error) || typeof (err as Partial<JetStreamApiErrorLike>).apiError !== "function") return false;
  for (let proto = Object.getPrototypeOf(err); proto !== null; proto = Object.getPrototypeOf(proto))
    if (Object.hasOwn(proto, "constructor") && proto.constructor.name === "JetStreamApiError") return true;
  return false;
}

/** The JetStream `err_code` of an error, or undefined when it did not come from the JetStream API. */
export function jsApiErrCode(err: unknown): number | undefined {
  if (err instanceof BusError) return err.apiErrCode;
  return isJetStreamApiError(err) ? err.apiError().err_code : undefined;
}

/** True when a publish (a KV compare-and-set write) failed because the subject's last sequence was not the expected one. */
export function isRevisionConflict(err: unknown): boolean {
  const code = jsApiErrCode(err);
  return code === JsErrCode.StreamWrongLastSequence || code === JsErrCode.StreamWrongLastSequenceConstant;
}

/** Normalises any error thrown by nats.js into a `BusError` (returned unchanged if it already is one). */
export function toBusError(err: unknown, context: string): BusError {
  if (err instanceof BusError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  const message = `${context}: ${detail}`;
  if (isJetStreamApiError(err)) {
    const apiErrCode = err.apiError().err_code;
    const unavailable =
      apiErrCode === JsErrCode.NotEnabled ||
      apiErrCode === JsErrCode.NotEnabledForAccount ||
      apiErrCode === JsErrCode.ClusterNotAvailable;
    return new BusError(unavailable ? "jetstream_unavailable" : "jetstream_api", message, {
      retryable: retryableApiCodes.has(apiErrCode),
      cause: err,
      apiErrCode,
    });
  }
  if (err instanceof AuthorizationError || err instanceof PermissionViolationError) {
    return new BusError("not_authorized", message, { cause: err });
  }
  // nats.js wraps "no responders" on $JS.API in JetStreamNotEnabled, which it does not export publicly.
  if (err instanceof Error && err.cause instanceof RequestError && err.cause.isNoResponders()) {
    return new BusError("jetstream_unavailable", message, { retryable: true, cause: err });
  }
  const request = classifyRequestFailure(err);
  if (request === "timeout" || request === "no_responders") {
    return new BusError("timeout", message, { retryable: true, cause: err });
  }
  if (err instanceof ConnectionError || err instanceof ClosedConnectionError) {
    return new BusError("connect_failed", message, { retryable: true, cause: err });
  }
  return new BusError("jetstream_api", message, { cause: err });
}
