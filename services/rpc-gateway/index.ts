// Public surface of the rpc-gateway (event half): host tokens, the pure connection protocol, and the server.
export { GatewayError } from "./errors.js";
export type { GatewayErrorCode } from "./errors.js";
export {
  HOST_TOKEN_PREFIX,
  HostIdSchema,
  bearerToken,
  checkHostToken,
  hashHostToken,
  hostTokenId,
  mintHostToken,
} from "./host-token.js";
export type { BearerResult, HostTokenCheck, MintedHostToken } from "./host-token.js";
export {
  authenticateHostToken,
  createHostToken,
  hostTokenAdmin,
  listHostTokens,
  openHostTokenBucket,
  revokeHostToken,
  watchHostTokenRevocations,
} from "./tokens.js";
export type { HostTokenTarget, HostTokenWatch } from "./tokens.js";
export { eventKindProblem } from "./event-kinds.js";
export { CloseCode, closeReason, initialConnectionState, receiveFrame } from "./protocol.js";
export type { ConnectionState, ProtocolAction, ProtocolLimits, Step } from "./protocol.js";
export { DEFAULT_GATEWAY_PORT, GatewaySettingsSchema, HOST_ID_HEADER, startGateway } from "./server.js";
export type { Gateway, GatewayOptions } from "./server.js";
