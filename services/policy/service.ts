/**
 * The policy service: the only way a command reaches a host. It serves `codex.cmd.*` in queue group `policy`
 * (so instances scale out), validates each command, runs it through the interceptors (audit, idempotency,
 * target, loops, authorisation, rate limits) and the verb's handler, and replies with a typed result. In the
 * same queue group it serves the operators' requests on `codex.admin.*` (admin.ts: the policy document now).
 * What the instances remember (rate limits and loop memory in KV `codex-policy-state`, shared-state.ts;
 * idempotency keys in KV `codex-commands`, ledger.ts) is shared through the bus, so N instances decide as one.
 * Nothing a caller sends can stop it: every message gets exactly one reply.
 */
import { randomBytes, randomUUID } from "node:crypto";
import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { pino, type Logger } from "pino";
import { CommandVerb, failure, parseCommand, type CommandResult } from "../../schemas/commands.js";
import { DEFAULT_POLICY } from "../../schemas/policy.js";
import { KV_BUCKET_NAMES, POLICY_QUEUE_GROUP, notALiveRequest, openKvBucket, subjects } from "../bus/index.js";
import type { ServiceMetrics } from "../ops/metrics.js";
import { serveAdmin } from "./admin.js";
import { policyAdminOps, policyChangeRecord } from "./admin-policy.js";
import { kvRevocationWriter, mcpAdminOps } from "./admin-mcp.js";
import { type HostTokenAdmin, tokenAdminOps } from "./admin-tokens.js";
import { operatorAdminOps, operatorAuthOps } from "./admin-operators.js";
import { type OperatorStore, operatorStore } from "./operator-store.js";
import { startApprovalAudit } from "./approval-audit.js";
import { AuditLog } from "./audit-log.js";
import { BudgetWatcher, type BudgetTimings } from "./budget-watcher.js";
import { readClawLeases } from "./claws.js";
import { HeldPublisher } from "./held-publisher.js";
import { callHost, listHosts, listSessions, lookupSession } from "./bus-calls.js";
import {
  auditTrail,
  authorization,
  budgetStops,
  clawOwnership,
  redaction,
  decisionRecorded,
  idempotency,
  loopPrevention,
  prefetchTarget,
  rateLimits,
  resolveTarget,
} from "./interceptors.js";
import { CommandLedger, commandIdOf } from "./ledger.js";
import { chain, type CommandContext, type TargetLookup } from "./pipeline.js";
import { PolicyStore } from "./policy-store.js";
import { SessionCache } from "./session-cache.js";
import { PolicyState } from "./shared-state.js";
import { HOST_OP_TIMEOUT_MS, runVerb, type SpawnConfig, type VerbDeps } from "./verbs.js";

/** Options of the policy service. */
export interface PolicyServiceOptions {
  nc: NatsConnection;
  logger?: Logger;
  /** How long to wait for the registry, ms (default 5 000). */
  registryTimeoutMs?: number;
  /** Extra `thread/start` config for spawned sessions (e.g. the supervisor MCP server). */
  spawnConfig?: SpawnConfig;
  /** The host-token store: with it, this service is the token path (`codex.admin.token.create|revoke`). */
  hostTokens?: HostTokenAdmin;
  /** The dashboard operators' store (default: KV `codex-operators` on `nc`, opened on first use). */
  operators?: OperatorStore;
  instanceId?: string;
  /** Where to count commands by verb and result (`claw_commands_total`); none: not counted. */
  metrics?: ServiceMetrics;
  /**
   * The budget watcher's timings, ms (issue 19): `settleMs` after a registry change before it evaluates (default
   * 200), `tickMs` at most between evaluations (default 60 000; a UTC day or month rolls over sooner), `retryMs` the
   * first wait before a failed warning, stop or interrupt is tried again (default 5 000, doubling). Unset ones come
   * from `CLAW_BUDGET_SETTLE_MS`, `CLAW_BUDGET_TICK_MS`, `CLAW_BUDGET_RETRY_MS`, else the defaults.
   */
  budgetTimings?: Partial<BudgetTimings>;
}

/** A running policy service. */
export interface PolicyService {
  readonly instanceId: string;
  /** The policy document's KV revision in force (null: the built-in default or, failing closed, deny-all). */
  policyRevision(): number | null;
  /** The document in force with its revision and source, and a newer refused document (what `policy get` shows). */
  policyInForce(): PolicyStore["inForce"];
  /** Stops taking commands and waits for those in flight. */
  stop(): Promise<void>;
}

/** Starts the policy service on `nc`; needs the bus set up (AUDIT, `codex-policy`, `codex-commands`). */
export async function startPolicyService(opts: PolicyServiceOptions): Promise<PolicyService> {
  const { nc } = opts;
  const instanceId = opts.instanceId ?? `policy-${randomBytes(4).toString("hex")}`;
  const log = (opts.logger ?? pino({ name: "policy" }, pino.destination(2))).child({ instanceId });
  const registryTimeoutMs = opts.registryTimeoutMs ?? 5_000;
  const [policyKv, commandsKv, leasesKv] = await Promise.all([
    openKvBucket(nc, KV_BUCKET_NAMES.policy, { mustExist: true }),
    openKvBucket(nc, KV_BUCKET_NAMES.commands, { mustExist: true }),
    // Read only when the policy has Claw groups (ownership checks, `claws`): not required to exist before then.
    openKvBucket(nc, KV_BUCKET_NAMES.leases),
  ]);
  const publisher = new HeldPublisher(nc);
  const audit = new AuditLog(publisher, instanceId, log);
  // Rate limits and loop memory, shared with every other instance (the limits of the document in force are
  // taken per command from its context).
  const shared = await PolicyState.open({ nc, publisher, log });
  const inFlight = new Set<Promise<void>>();
  const track = (work: Promise<unknown>): void => {
    const p = work
      .then(
        () => undefined,
        () => undefined,
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  // Budgets (issue 19): enforced from the registry view the session cache follows, by the document in force.
  const opened: { store?: PolicyStore } = {};
  const budgets = new BudgetWatcher({
    policy: () => opened.store?.current ?? DEFAULT_POLICY,
    callHost: (envelope) => callHost(nc, envelope),
    audit,
    log: log.child({ part: "budgets" }),
    timings: opts.budgetTimings ?? {},
    opTimeoutMs: { annotate: HOST_OP_TIMEOUT_MS.annotate, interrupt: HOST_OP_TIMEOUT_MS.interrupt },
  });
  // Each change is audited once across instances (its message id is the revision's), with who stored it.
  const store = await PolicyStore.open(policyKv, log, (change) => {
    track(policyChangeRecord(policyKv, change).then((record) => audit.writeLate(record)));
    budgets.policyChanged();
  });
  opened.store = store;
  const ledger = new CommandLedger(commandsKv, publisher, instanceId);
  const sessions = await SessionCache.open(nc, log, budgets.onEntry);
  budgets.policyChanged();
  const findSession = (sessionId: string, hostId: string | undefined): TargetLookup => {
    const cached = sessions.get(sessionId, hostId);
    return cached ? { found: cached } : lookupSession(nc, sessionId, hostId, registryTimeoutMs);
  };

  // One instance of each check, around the command and around each target its handler finds (verbs.ts).
  const checkLoops = loopPrevention(shared, log);
  const decide = authorization();
  const rates = rateLimits(shared);
  const owners = clawOwnership(leasesKv);
  const recorded = decisionRecorded(audit, log);
  const budgetGuard = budgetStops(budgets);
  const deps: VerbDeps = {
    audit,
    callHost: (envelope) => callHost(nc, envelope),
    listSessions: (filter, limit, cursor) => listSessions(nc, filter, limit, registryTimeoutMs, cursor ?? null),
    listHosts: () => listHosts(nc, registryTimeoutMs),
    lookupSession: async (sessionId) => {
      const lookup = findSession(sessionId, undefined);
      return "found" in lookup ? lookup.found : lookup;
    },
    freshSession: (sessionId, hostId) => lookupSession(nc, sessionId, hostId, registryTimeoutMs),
    eachTarget: {
      list: [decide],
      // A broadcast's target is authorised before its loop check is made, as broadcasts have always done; a
      // Claw's broadcast reaches only the targets it owns (the others are refused in the results).
      broadcast: [decide, owners, checkLoops, budgetGuard, rates],
      spawn: [decide, budgetGuard, recorded],
    },
    spawnConfig: opts.spawnConfig ?? {},
    readClawLeases: () => readClawLeases(nc, registryTimeoutMs),
    budgets,
  };
  const handle = chain(
    [
      redaction(),
      auditTrail(audit, track),
      prefetchTarget(findSession),
      idempotency(ledger, log),
      resolveTarget(),
      checkLoops,
      decide,
      owners,
      budgetGuard,
      rates,
      recorded,
    ],
    (ctx) => runVerb(ctx, deps),
  );

  const serve = async (msg: Msg): Promise<void> => {
    // Stored bytes a client had the server deliver here (see notALiveRequest) are never a command.
    const notLive = notALiveRequest(msg);
    if (notLive)
      return log.warn({ subject: msg.subject, why: notLive }, "dropped a message that is not a command request");
    let result: CommandResult;
    let ctx: CommandContext | null = null;
    try {
      [result, ctx] = await answer(msg);
    } catch (err) {
      log.error({ subject: msg.subject, err: (err as Error).message }, "command failed unexpectedly");
      result = failure("timeout", `the policy service failed while handling the command: ${(err as Error).message}`);
    }
    if (msg.reply) msg.respond(JSON.stringify(result));
    // Logged once the answer is on its way: a log line written synchronously does not hold it up.
    if (ctx)
      log.info(
        {
          commandId: ctx.commandId,
          verb: ctx.request.verb,
          caller: ctx.request.caller.id,
          ok: result.ok,
          code: result.ok ? undefined : result.code,
        },
        "command",
      );
    opts.metrics?.commands.inc({ verb: verbLabel(msg.subject), result: result.ok ? "ok" : result.code });
  };
  /** The command's result, and its context once it was parsed (for the log line). */
  const answer = async (msg: Msg): Promise<[CommandResult, CommandContext | null]> => {
    let body: unknown;
    try {
      body = msg.json();
    } catch {
      return [failure("invalid", "invalid command: the body is not JSON"), null];
    }
    const verb = msg.subject.split(".").pop();
    if (typeof body === "object" && body !== null && (body as { verb?: unknown }).verb !== verb) {
      return [failure("invalid", `invalid command: its verb must match the subject (${msg.subject})`), null];
    }
    const parsed = parseCommand(body);
    if (!parsed.ok) return [parsed.failure, null];
    const ctx: CommandContext = {
      request: parsed.request,
      commandId: commandIdOf(parsed.request.caller, parsed.request.idempotencyKey),
      attempt: newAttempt(),
      policy: store.current,
      target: null,
      decision: null,
      before: [],
      after: [],
      targetLookup: null,
      claim: null,
      admitted: null,
      acting: false,
    };
    return [await handle(ctx), ctx];
  };
  const sub: Subscription = nc.subscribe(subjects.allCommands(), {
    queue: POLICY_QUEUE_GROUP,
    callback: (err, msg) => {
      if (err) return log.error({ err: err.message }, "command subscription failed");
      // The command's first writes leave after a host request it makes at once (a read), in the same write.
      publisher.holdForTick();
      const p = serve(msg).finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
  });
  const operators = opts.operators ?? operatorStore(nc);
  const admin = serveAdmin({
    nc,
    log,
    track,
    ops: {
      ...policyAdminOps({ kv: policyKv, store, audit }),
      ...(opts.hostTokens ? tokenAdminOps({ tokens: opts.hostTokens, audit }) : {}),
      ...mcpAdminOps({ audit, write: kvRevocationWriter(nc) }),
      ...operatorAdminOps({ operators, audit }),
    },
  });
  // Sign-in checks (codex.auth.>) in the same queue group, through the same live-request check.
  const auth = serveAdmin({ nc, log, track, subject: subjects.allAuth(), ops: operatorAuthOps({ operators, audit }) });
  // Approvals the host agents held or answered on their own (rules, deadlines) reach AUDIT from FLEET.
  const approvalAudit = startApprovalAudit(nc, audit, log);
  await nc.flush();
  log.info(
    { revision: store.revision, source: store.inForce.inForce.source },
    "policy service serving codex.cmd.*, codex.admin.* and codex.auth.*",
  );

  let stopped: Promise<void> | undefined;
  return {
    instanceId,
    policyRevision: () => store.revision,
    policyInForce: () => store.inForce,
    stop: () =>
      (stopped ??= (async () => {
        sub.unsubscribe();
        admin.unsubscribe();
        auth.unsubscribe();
        await Promise.allSettled([...inFlight]);
        // Commands that were still running when stop began tracked their closing records meanwhile.
        await Promise.allSettled([...inFlight]);
        await approvalAudit.stop();
        await budgets.stop();
        store.stop();
        sessions.stop();
        await shared.stop();
        publisher.close("the policy service stopped");
        log.info("policy service stopped");
      })()),
  };
}

/**
 * A new attempt id: 12 random hex digits (48 bits), the first 12 of a random UUID, which Node takes from random data
 * it generates 128 UUIDs' worth at a time, instead of calling into the CSPRNG for every command as `randomBytes` does.
 */
function newAttempt(): string {
  const uuid = randomUUID(); // xxxxxxxx-xxxx-4xxx-...: the first 12 hex digits are all random
  return uuid.slice(0, 8) + uuid.slice(9, 13);
}

/** The verb a command subject names, as a metrics label: one of the verbs, else `unknown` (bounded labels). */
function verbLabel(subject: string): string {
  const verb = CommandVerb.safeParse(subject.slice(subject.lastIndexOf(".") + 1));
  return verb.success ? verb.data : "unknown";
}
