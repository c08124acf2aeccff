// Public surface of the bus: the only module in the project that knows JetStream.
export { BusError, JsErrCode, isRevisionConflict, jsApiErrCode, toBusError } from "./errors.js";
export type { BusErrorCode, BusErrorOptions } from "./errors.js";
export { POLICY_QUEUE_GROUP, SUBJECT_ROOT, isSubjectToken, subjectToken, subjects } from "./subjects.js";
export {
  BUS_REQUIRED_FEATURES,
  SERVER_FEATURES,
  assertServerFeature,
  compareServerVersions,
  connectedServerVersion,
  formatServerVersion,
  parseServerVersion,
  requireServerFeature,
  serverHasFeature,
} from "./server-version.js";
export type { ServerFeature, ServerVersion } from "./server-version.js";
export { KV_BUCKET_NAMES, STREAM_NAMES, busTopology, parseTopologyConfig } from "./topology.js";
export type { BusKvSpec, BusStreamSpec, BusTopology } from "./topology.js";
export { ensureBus, ensureKvBucket, ensureStream, ensureTopology, kvStreamName, streamConfigFor } from "./ensure.js";
export type { EnsureAction, EnsureBusResult, EnsureRetry } from "./ensure.js";
export { connectBus, splitUrlCredentials } from "./connect.js";
export type { ConnectBusOptions } from "./connect.js";
export {
  JetStreamPublisher,
  publishDeduplicated,
  type JetStreamPublishTarget,
  type PublishAck,
  type PublishOptions,
} from "./js-publisher.js";
export { publishCheckedSessionEvent, publishSessionEvent, sessionEventMsgId } from "./session-events.js";
export type { SessionEventAck } from "./session-events.js";
export {
  lastStoredMessage,
  missingStreams,
  readStoredMsgIds,
  readStream,
  readStreamRange,
} from "./stream-reader.js";
export type { ReadStreamOptions, StoredMessage, StoredMsgId } from "./stream-reader.js";
export { followStream, streamLastSeq } from "./stream-follow.js";
export type { StreamFollow } from "./stream-follow.js";
export { followEntryAsKvEntry, followKvBucket } from "./kv-follow.js";
export type { KvFollow, KvFollowEntry } from "./kv-follow.js";
export { NATS_SERVER_INSTALL_HINT, NatsPortInUseError, startEmbeddedNats } from "./embedded-server.js";
export type { EmbeddedNats, EmbeddedNatsOptions } from "./embedded-server.js";
export { busRequest } from "./requester.js";
export { classifyRequestFailure, type RequestFailure } from "./request-failure.js";
export { listKvKeys, loadKvBucket, openKvBucket, putKvEntry } from "./kv.js";
export type { KvBucket, KvEntry, KvWatchEntry, LoadedKvEntry, OpenKvBucketOptions } from "./kv.js";
export {
  consumerBacklog,
  ensureDurableConsumer,
  listConsumerPositions,
  openDurableConsumer,
  streamSeqOf,
} from "./consumers.js";
export type {
  ConsumerPosition,
  ConsumerStatus,
  DurableConsumer,
  DurableConsumerSpec,
  MessageFeed,
  StreamMsg,
} from "./consumers.js";
export {
  ADMIN_ONLY_JS_API,
  BUS_PERMISSIONS,
  BUS_USERS,
  literalPassword,
  passwordVariable,
  renderAuthorization,
  renderDeployPermissionsConf,
} from "./permissions.js";
export type { BusUser, PasswordExpr, UserPermissions } from "./permissions.js";
export { deliveredFromStream, notALiveRequest } from "./live-request.js";
export { LEASE_BUCKET, LeaseRecord, MAX_LEASE_TTL_MS, leaseKeys, leaseView, startLease } from "./lease.js";
export type { Lease, LeaseLossReason, LeaseOptions, LeaseView } from "./lease.js";
