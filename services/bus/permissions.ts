/**
 * Who may do what on the bus: one NATS user per service and one for operators, as data. `claw-supervisor up`
 * renders it into its own nats-server config, and `deploy/nats/permissions.conf` is the same rendering with
 * passwords from the environment (a test keeps the file equal to it), so the local bus and a production
 * cluster apply one model. Only nats-server 2.9 features: users with publish/subscribe allow and deny lists.
 * Pure.
 *
 * What the model exists for: only the policy service publishes commands to hosts (`codex.rpc.*`), so no command
 * skips policy; only the gateway publishes session events (`codex.evt.*`); only the policy service writes the
 * audit trail (`codex.audit.*`) and host tokens; only the registry writes the session and host views. Those
 * families are also denied by name to every other user, so a broader allow added later cannot open them.
 *
 * What publish permissions cannot stop: nats-server checks the subject a client publishes on, never the reply
 * subject it names, and the server itself answers JetStream API calls (direct gets and consumer deliveries
 * included) on that reply subject. So every service acts only on live requests (services/bus/live-request.ts);
 * clients and operators write no bucket (nothing they stored can be replayed elsewhere) and may not read the
 * policy, host-token and operator-token buckets (no old record can be replayed into them). What is left: a user
 * with the JetStream API can have the server append copies of other stored records or API answers to a stream
 * (never delete or change one); receivers validate every record, and separate NATS accounts would close it.
 */
import { KV_BUCKET_NAMES, STREAM_NAMES } from "./topology.js";

/** The bus's users. `admin` has no permissions block: it creates the streams and buckets. */
export const BUS_USERS = ["admin", "policy", "gateway", "registry", "operator", "client", "claw"] as const;
export type BusUser = (typeof BUS_USERS)[number];

/** One user's grants; a subject not in an allow list is refused. */
export interface UserPermissions {
  /** Why the user exists and what it may do, one line per entry (rendered as comments). */
  about: string[];
  publishAllow: string[];
  publishDeny: string[];
  subscribeAllow: string[];
}

/** JetStream API calls that create, change or destroy streams (KV buckets included): admin only. */
export const ADMIN_ONLY_JS_API = [
  "$JS.API.STREAM.CREATE.>",
  "$JS.API.STREAM.UPDATE.>",
  "$JS.API.STREAM.DELETE.>",
  "$JS.API.STREAM.PURGE.>",
  "$JS.API.STREAM.MSG.DELETE.>",
  "$JS.API.STREAM.SNAPSHOT.>",
  "$JS.API.STREAM.RESTORE.>",
  "$JS.API.STREAM.PEER.>",
  "$JS.API.STREAM.LEADER.>",
  "$JS.API.CONSUMER.LEADER.>",
  "$JS.API.META.>",
  "$JS.API.SERVER.>",
  "$JS.API.ACCOUNT.>",
];

const kv = (bucket: string): string => `$KV.${bucket}.>`;
const JS = ["$JS.API.>", "$JS.ACK.>"];
const RPC = "codex.rpc.>";
const EVENTS = "codex.evt.>";
const AUDIT = "codex.audit.>";
const ADMIN_REQUESTS = "codex.admin.>";
/** Sign-in checks (`codex.auth.operator.signin|status`): answered by the policy service, asked by clients. */
const AUTH_REQUESTS = "codex.auth.>";
/**
 * Answers go to nats.js inboxes only. No user has `allow_responses`, which would let an answer go to whatever
 * reply subject a requester named (a protected subject or a KV key included); every responder also checks the
 * reply is an inbox before it acts (services/bus/live-request.ts).
 */
const INBOXES = "_INBOX.>";

/**
 * The buckets whose records grant access: the policy document, the host tokens and the operator tokens. Users who may not write them
 * may not read them through the JetStream API either, since any read that delivers a stored record can be aimed
 * (by its reply subject) back at the bucket: an old policy revision restored, a revoked token's record replayed.
 */
const guardedReads = (...streams: string[]): string[] =>
  streams.flatMap((st) => [
    `$JS.API.DIRECT.GET.${st}`,
    `$JS.API.DIRECT.GET.${st}.>`,
    `$JS.API.STREAM.MSG.GET.${st}`,
    `$JS.API.CONSUMER.CREATE.${st}`,
    `$JS.API.CONSUMER.CREATE.${st}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${st}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${st}.>`,
  ]);
const GUARDED_READS = guardedReads(
  `KV_${KV_BUCKET_NAMES.policy}`,
  `KV_${KV_BUCKET_NAMES.hostTokens}`,
  `KV_${KV_BUCKET_NAMES.operators}`,
  // The policy instances' shared rate limits and loop memory: a token bucket replayed from an older read refills it.
  `KV_${KV_BUCKET_NAMES.policyState}`,
  // Leases: a lease record replayed onto a host's key reads as a second agent, which the gateway stops for good.
  `KV_${KV_BUCKET_NAMES.leases}`,
);
/** Lease keys by owner (services/bus/lease.ts `leaseKeys`): a service writes only its own kind of lease. */
const HOST_LEASES = `$KV.${KV_BUCKET_NAMES.leases}.host.>`;
const REGISTRY_LEASES = `$KV.${KV_BUCKET_NAMES.leases}.registry.>`;
/** A Claw's own lease keys (issue 18): its liveness (`claw.<clawId>`) and the sessions it owns (`claw-session.<id>`). */
const CLAW_LEASE_KEYS = [`claw.>`, `claw-session.>`];
const CLAW_LEASES = CLAW_LEASE_KEYS.map((k) => `$KV.${KV_BUCKET_NAMES.leases}.${k}`);
/**
 * Reads of those keys only, by subject (a direct get of the last message on one key): every record on them names
 * its key (services/bus/lease.ts), so one aimed at another key by a reply subject reads as junk there.
 */
const CLAW_LEASE_READS = CLAW_LEASE_KEYS.map(
  (k) => `$JS.API.DIRECT.GET.KV_${KV_BUCKET_NAMES.leases}.$KV.${KV_BUCKET_NAMES.leases}.${k}`,
);

/**
 * The JetStream calls a Claw's plugin service makes: stream and consumer info, its durable consumers on FLEET
 * (and ordered ones, to look back for notices a lapsed owner may have missed), their pulls and acks, and the
 * direct gets of its lease keys above. Nothing else: no reads of another bucket's records, no stream changes.
 */
const CLAW_JS_API = [
  "$JS.API.INFO",
  "$JS.API.STREAM.INFO.*",
  `$JS.API.CONSUMER.CREATE.${STREAM_NAMES.fleet}`,
  `$JS.API.CONSUMER.CREATE.${STREAM_NAMES.fleet}.>`,
  `$JS.API.CONSUMER.DURABLE.CREATE.${STREAM_NAMES.fleet}.>`,
  `$JS.API.CONSUMER.INFO.${STREAM_NAMES.fleet}.>`,
  `$JS.API.CONSUMER.DELETE.${STREAM_NAMES.fleet}.>`,
  `$JS.API.CONSUMER.MSG.NEXT.${STREAM_NAMES.fleet}.>`,
  `$JS.ACK.${STREAM_NAMES.fleet}.>`,
];

/** Every user's grants but `admin`'s. */
export const BUS_PERMISSIONS: Record<Exclude<BusUser, "admin">, UserPermissions> = {
  policy: {
    about: [
      'The policy service: serves codex.cmd.<verb>, codex.admin.> and codex.auth.> (queue group "policy"), the',
      "only publisher on codex.rpc.<hostId> (requests to the gateway), writes AUDIT, KV codex-policy, its",
      "idempotency bucket codex-commands, host tokens (codex-host-tokens, for `token create|revoke`) and",
      "operator tokens (codex-operators, for `operator add|revoke`), its instances' shared rate limits and loop",
      "memory (codex-policy-state), asks the registry, and reads FLEET's approval notices through its own",
      "durable consumers (through $JS.API) to audit them. It reads codex-leases (a Claw's command on a session",
      "must carry the epoch of the session's lease: issue 18) but writes no lease.",
    ],
    publishAllow: [
      RPC,
      AUDIT,
      "codex.registry.>",
      kv(KV_BUCKET_NAMES.policy),
      kv(KV_BUCKET_NAMES.commands),
      kv(KV_BUCKET_NAMES.hostTokens),
      kv(KV_BUCKET_NAMES.mcpRevocations),
      kv(KV_BUCKET_NAMES.operators),
      kv(KV_BUCKET_NAMES.policyState),
      INBOXES,
      ...JS,
    ],
    publishDeny: [EVENTS, ...ADMIN_ONLY_JS_API],
    subscribeAllow: ["codex.cmd.>", ADMIN_REQUESTS, AUTH_REQUESTS, "_INBOX.>"],
  },
  gateway: {
    about: [
      "The rpc-gateway: answers codex.rpc.<hostId> for its connected hosts, publishes session events into",
      "CODEX_EVENTS (JetStream publish with Nats-Msg-Id) and host lifecycle on codex.host.<hostId>, reads KV",
      "codex-host-tokens, takes and renews host leases in KV codex-leases (host.<hostId> keys only: one live",
      "connection per host across gateway instances), and publishes one FLEET notice kind, codex.fleet.host-conflict",
      "(two agents claiming one host id). Never a command publisher.",
    ],
    publishAllow: [EVENTS, "codex.host.>", "codex.fleet.host-conflict", HOST_LEASES, INBOXES, ...JS],
    publishDeny: [RPC, "codex.cmd.>", AUDIT, ADMIN_REQUESTS, ...ADMIN_ONLY_JS_API],
    subscribeAllow: [RPC, "_INBOX.>"],
  },
  registry: {
    about: [
      "The registry: a durable consumer on CODEX_EVENTS per partition, host lifecycle on codex.host.>, writes KV",
      "codex-sessions and codex-hosts (compare-and-set publishes on $KV.<bucket>.<key>) and its partition leases",
      'in codex-leases (registry.> keys only), publishes FLEET notices, serves codex.registry.> (queue group "registry").',
    ],
    publishAllow: [
      "codex.fleet.>",
      kv(KV_BUCKET_NAMES.sessions),
      kv(KV_BUCKET_NAMES.hosts),
      REGISTRY_LEASES,
      INBOXES,
      ...JS,
    ],
    publishDeny: [RPC, EVENTS, AUDIT, ADMIN_REQUESTS, ...ADMIN_ONLY_JS_API],
    subscribeAllow: ["codex.host.>", "codex.registry.>", "_INBOX.>"],
  },
  operator: {
    about: [
      "Operators (the claw-supervisor CLI): send commands (codex.cmd.<verb>, through policy), query the",
      "registry, change policy, host tokens and MCP token revocations through the policy service",
      "(codex.admin.>), read streams and buckets through $JS.API but for the policy, host-token,",
      "operator-token, policy-state and lease buckets.",
      "They write no bucket: any bytes a user stores can be delivered elsewhere by the server.",
    ],
    publishAllow: ["codex.cmd.>", "codex.registry.>", ADMIN_REQUESTS, ...JS],
    publishDeny: [RPC, EVENTS, AUDIT, ...ADMIN_ONLY_JS_API, ...GUARDED_READS],
    subscribeAllow: ["_INBOX.>"],
  },
  client: {
    about: [
      "Clients: the Claw plugin, the MCP edge, the dashboard. They ask (codex.cmd.<verb> goes through policy;",
      "codex.registry.* queries) and read AUDIT, FLEET and the KV views through $JS.API (their own durable",
      "consumers), but not the policy, host-token, operator-token, policy-state and lease buckets. They may ask",
      "the sign-in checks (codex.auth.>, the dashboard). Unlike operators they never change policy or tokens, and",
      "they write no bucket.",
    ],
    publishAllow: ["codex.cmd.>", "codex.registry.>", AUTH_REQUESTS, ...JS],
    publishDeny: [RPC, EVENTS, AUDIT, ADMIN_REQUESTS, ...ADMIN_ONLY_JS_API, ...GUARDED_READS],
    subscribeAllow: ["_INBOX.>"],
  },
  claw: {
    about: [
      "A Claw's plugin service when several Claws share the fleet (issue 18): what a client may do, and it takes",
      "and renews its own leases in codex-leases (claw.> and claw-session.> keys only; it reads those keys one at a",
      "time, never the rest of the bucket) and publishes one FLEET notice kind, codex.fleet.session-adopted.",
    ],
    // Not `$JS.API.>`: a deny would win over the allow of the claw keys' reads, so its JetStream calls are listed.
    publishAllow: [
      "codex.cmd.>",
      "codex.registry.>",
      "codex.fleet.session-adopted",
      ...CLAW_LEASES,
      ...CLAW_LEASE_READS,
      INBOXES,
      ...CLAW_JS_API,
    ],
    publishDeny: [RPC, EVENTS, AUDIT, ADMIN_REQUESTS, AUTH_REQUESTS, ...ADMIN_ONLY_JS_API],
    subscribeAllow: ["_INBOX.>"],
  },
};

/** How a user's password appears in the rendered config: a literal or a `$VARIABLE` reference. */
export type PasswordExpr = (user: BusUser) => string;

/** A password as a quoted config string; only letters and digits reach here (see `newBusPassword`). Pure. */
export const literalPassword =
  (passwords: Record<BusUser, string>): PasswordExpr =>
  (user) =>
    JSON.stringify(passwords[user]);

/** The environment variable `deploy/nats/permissions.conf` reads a user's password from. Pure. */
export const passwordVariable = (user: BusUser): string => `CLAW_NATS_${user.toUpperCase()}_PASSWORD`;

const list = (items: string[], indent: string): string => {
  const lines: string[] = [];
  for (let i = 0; i < items.length; i += 3)
    lines.push(
      `${indent}${items
        .slice(i, i + 3)
        .map((s) => JSON.stringify(s))
        .join(", ")}`,
    );
  return `[\n${lines.join("\n")}\n${indent.slice(2)}]`;
};

/** The `authorization { users = [...] }` block for nats-server 2.9, passwords as `password` renders them. Pure. */
export function renderAuthorization(password: PasswordExpr): string {
  const users = BUS_USERS.map((user) => {
    if (user === "admin") {
      return [
        "    # Bootstrap: creates and changes the streams and KV buckets (ensureBus), and `up`'s own host token.",
        "    # No permissions block: everything is allowed. No service runs as admin.",
        `    { user: admin, password: ${password(user)} }`,
      ].join("\n");
    }
    const p = BUS_PERMISSIONS[user];
    return [
      ...p.about.map((line) => `    # ${line}`),
      "    {",
      `      user: ${user}`,
      `      password: ${password(user)}`,
      "      permissions: {",
      "        publish: {",
      `          allow: ${list(p.publishAllow, "            ")}`,
      `          deny: ${list(p.publishDeny, "            ")}`,
      "        }",
      `        subscribe: { allow: ${list(p.subscribeAllow, "          ")} }`,
      "      }",
      "    }",
    ].join("\n");
  });
  return `authorization {\n  users = [\n${users.join("\n\n")}\n  ]\n}\n`;
}

const DEPLOY_HEADER = `# claw-supervisor: NATS users and per-service permissions (nats-server >= 2.9; 2.9 features only).
#
# GENERATED from services/bus/permissions.ts (npm run gen:nats-permissions); a test keeps this file equal to
# it. \`claw-supervisor up\` renders the same model into its own server config, with generated passwords.
#
# Include it at the top level of a server config (see nats-server.conf next to it):
#     include permissions.conf
# nats-server 2.9 resolves an include relative to the including file's directory, also when the path is
# absolute, so keep this file next to the config that includes it (or copy it there).
#
# The rule this file exists for: only the policy service may publish on codex.rpc.* (commands to host agents),
# so no command skips policy. Likewise only the gateway publishes session events (codex.evt.*), only the
# policy service writes the audit trail (codex.audit.*) and host tokens, and only the registry writes the
# session view. Those families are also denied explicitly to every other user, so a broader allow added
# later cannot open them by accident. (Everything a user's allow list does not name is refused anyway.)
# The AUDIT and CODEX_EVENTS streams are created with deny_delete and deny_purge: nobody, admin included,
# deletes a message or purges them; they shrink only by age and size.
#
# What subject permissions cannot stop: nats-server checks the subject a client publishes on, never the reply
# subject it asks for (see README.md, "What the permissions do not cover").
#
# Passwords come from the environment through nats-server's $VAR substitution (see README.md): the server
# refuses to start when one is unset. Use letters and digits starting with a letter (e.g.
# "p$(openssl rand -hex 24)"): nats-server parses the value as config text.
#
# JetStream API: every user but admin may call $JS.API.> (stream/consumer info, KV reads, their own
# consumers) except the calls that create, change or destroy streams. KV writes are publishes on
# $KV.<bucket>.>, so a bucket is writable only by the users whose allow list names it.
`;

/** `deploy/nats/permissions.conf`: the model with passwords from `CLAW_NATS_<USER>_PASSWORD`. Pure. */
export function renderDeployPermissionsConf(): string {
  return `${DEPLOY_HEADER}\n${renderAuthorization((user) => `$${passwordVariable(user)}`)}`;
}
