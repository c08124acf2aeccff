/**
 * `claw-supervisor policy get|set|reset|check`: the policy document the policy service enforces, asked of the
 * service on `codex.admin.policy.get|set` (so every change is audited with its operator; `reset` is a `set` of
 * the built-in default), and a dry run of its decision for one caller, verb and target against the document in
 * force. When no policy service answers, `get` and `check` read KV `codex-policy`'s history and apply the
 * service's own rule (schemas/policy-history.ts).
 */
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { PolicyGetResult, PolicySetResult, type AdminCaller } from "../../schemas/admin.js";
import { Caller, CallerRole, CommandVerb, issuesText } from "../../schemas/commands.js";
import { ACTIVE_POLICY_KEY, DEFAULT_POLICY, PolicyDocument } from "../../schemas/policy.js";
import { policyFromHistory, type PolicyHistoryEntry, type PolicyInForce } from "../../schemas/policy-history.js";
import { JsErrCode, KV_BUCKET_NAMES, jsApiErrCode, openKvBucket, subjects, type KvBucket } from "../bus/index.js";
import { authorize, factsOfSession, verbCapability, type TargetFacts } from "../policy/decide.js";
import { requestAdmin, type AdminAnswer } from "../clients/admin-request.js";
import { DEFAULT_QUERY_TIMEOUT_MS, getSession } from "../clients/registry-queries.js";
import { Milliseconds, optionValue, parseCommandArgs, type ParsedCommandArgs } from "./args.js";
import { defaultCallerId } from "./command-client.js";
import { CliError, EXIT_CODES, type CliIo, type Command } from "./io.js";
import { jsonFailure, jsonOk } from "./output.js";
import { adminAnswerError, adminFailureError } from "./admin-answer.js";
import { closest } from "./suggest.js";
import { NATS_URL_HELP, cliBusUrl, connectCli, queryFailure } from "./connection.js";

const bucket = KV_BUCKET_NAMES.policy;

const usage = `Usage: claw-supervisor policy <get|set|reset|check> [options]

Shows, replaces and tries out the policy document the policy service enforces (KV bucket ${bucket},
key '${ACTIVE_POLICY_KEY}'). While no document is stored, the built-in default applies; a stored document that
does not validate is refused and the newest valid one stays in force; with documents stored but none valid,
everything is denied.

  policy get                      print the document in force as JSON; say on stderr when a newer one was
                                  refused, and why
  policy set <file|->             validate a JSON document (a file, or stdin with '-') and have the policy
                                  service store it; prints its revision
  policy reset --yes              have the policy service store the built-in default document (as 'set'
                                  does, audited with --caller); --dry-run says what it would replace
  policy check --role R --verb V  would this caller be allowed by the document in force? exit 0 on allow,
                                  3 on deny
      [--caller ID]               the caller's id (rules with a callerId match only it)
      [--session ID] [--host H]   the target: the registry's record of session ID (on host H);
                                  --host alone targets a host (e.g. for spawn)
      [--raw]                     with --verb read: a raw transcript read (needs readRaw)
      [--file F]                  check against document F instead of the one in force

R is one of ${CallerRole.options.join(", ")}; V one of ${CommandVerb.options.join(", ")}.

get, set and reset ask the policy service (${subjects.admin("policy", "get")}, ${subjects.admin("policy", "set")}).
When none answers, get and check read the bucket's history and apply the service's rule themselves, and say so.

--caller ID     (get, set, reset) the operator id recorded in the audit log (default $USER@host)
--yes           (reset) do it
--dry-run       (reset) print what would be replaced, change nothing
--json          print JSON instead of text
--nats-url URL  ${NATS_URL_HELP}
--timeout MS    how long to wait for the policy service, and for the registry with --session
                (default ${DEFAULT_QUERY_TIMEOUT_MS})`;

/** Where the document a check used came from: the one in force (by its source), or a file. */
type CheckSource = Pick<PolicyInForce, "source" | "revision"> | { source: "file"; file: string };

/** Opens the policy bucket, or fails with one line saying how to create it. */
async function openPolicyBucket(nc: NatsConnection): Promise<KvBucket> {
  try {
    return await openKvBucket(nc, bucket, { mustExist: true });
  } catch (err) {
    if (jsApiErrCode(err) === JsErrCode.StreamNotFound) {
      throw new CliError(
        `KV bucket ${bucket} does not exist: run 'claw-supervisor up', or 'claw-supervisor service <name> --ensure-bus', against this NATS first`,
      );
    }
    throw new CliError(`cannot open KV bucket ${bucket}: ${(err as Error).message}`);
  }
}

/** Parses and validates a policy document's text; every bad field is named with its path. */
function parsePolicy(text: string, origin: string): { json: unknown; policy: PolicyDocument } {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${origin} is not JSON: ${(err as Error).message}`);
  }
  const parsed = PolicyDocument.safeParse(json);
  if (!parsed.success) throw new CliError(`invalid policy in ${origin}: ${issuesText(parsed.error)}`);
  return { json, policy: parsed.data };
}

/** What `policy get` shows: the service's reply, or the same reply worked out from the bucket's history. */
interface InForceAnswer {
  reply: Extract<PolicyGetResult, { ok: true }>;
  /** Set when no policy service answered and the bucket was read instead: why. */
  fallback?: string;
}

/** The document in force (and a newer refused one) from the bucket's history, by the service's own rule. */
async function inForceFromBucket(nc: NatsConnection): Promise<InForceAnswer["reply"]> {
  const kv = await openPolicyBucket(nc);
  const entries: PolicyHistoryEntry[] = [];
  try {
    for await (const e of await kv.history({ key: ACTIVE_POLICY_KEY }))
      entries.push({ revision: e.revision, operation: e.operation, text: e.operation === "PUT" ? e.string() : "" });
  } catch (err) {
    // up's operator (and any client) may not read the policy bucket itself: only the policy service can say.
    const refused = /permission/i.test(`${(err as Error).message} ${String((err as Error).cause ?? "")}`);
    throw new CliError(
      refused
        ? `this bus user may not read KV ${bucket} itself (only the policy service does): start 'claw-supervisor up' or 'claw-supervisor service policy', then ask again`
        : `cannot read the history of KV ${bucket} key '${ACTIVE_POLICY_KEY}': ${(err as Error).message}`,
    );
  }
  const { inForce, refused } = policyFromHistory(entries);
  return { ok: true, inForce, ...(refused === null ? {} : { refused }) };
}

/** Asks the policy service what is in force; reads the bucket itself when no service answers. */
async function inForceOf(nc: NatsConnection, caller: AdminCaller, timeoutMs: number): Promise<InForceAnswer> {
  const answer = await requestAdmin(nc, "policy", "get", { caller }, PolicyGetResult, timeoutMs);
  if (answer.ok) {
    if (!answer.reply.ok) throw adminFailureError(answer.reply);
    return { reply: answer.reply };
  }
  if (answer.reason === "no_policy" || answer.reason === "timeout") {
    const why =
      answer.reason === "no_policy"
        ? `no policy service is answering on ${subjects.admin("policy", "get")}`
        : `the policy service did not answer within ${timeoutMs} ms`;
    return { reply: await inForceFromBucket(nc), fallback: `${why}; read KV ${bucket}'s history instead` };
  }
  throw answerFailure(answer, "get");
}

/** A request that got no usable reply, worded for the user. */
function answerFailure(answer: Exclude<AdminAnswer<unknown>, { ok: true }>, op: "get" | "set"): CliError {
  return adminAnswerError(answer, subjects.admin("policy", op), {
    what: `policy ${op}`,
    nothingDone: "Nothing was stored.",
    mayHaveDone: `the policy service did not answer policy ${op}; the document may still have been stored: see 'claw-supervisor policy get'`,
  });
}

async function readText(file: string): Promise<string> {
  try {
    if (file !== "-") return await readFile(file, "utf8");
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
    return Buffer.concat(chunks).toString("utf8");
  } catch (err) {
    throw new CliError(`cannot read ${file === "-" ? "stdin" : file}: ${(err as Error).message}`);
  }
}

/** The target facts of a session, from the registry's record of it. */
async function sessionFacts(
  nc: NatsConnection,
  sessionId: string,
  host: string | undefined,
  timeoutMs: number,
): Promise<TargetFacts> {
  const record = await getSession(nc, { sessionId, ...(host === undefined ? {} : { host }) }, timeoutMs).catch(
    queryFailure,
  );
  if (record === null)
    throw new CliError(
      `not_found: the registry does not know session ${sessionId}${host === undefined ? "" : ` on host ${host}`}`,
      EXIT_CODES.not_found,
    );
  return factsOfSession(record);
}

function sourceText(from: CheckSource): string {
  switch (from.source) {
    case "stored":
      return `the policy in force, revision ${from.revision}`;
    case "default":
      return "the built-in default policy";
    case "fail-closed":
      return "the fail-closed policy: no stored document is valid, so nothing is allowed";
    case "file":
      return `the policy in ${from.file}`;
  }
}

const checkOnly = ["role", "verb", "session", "host", "file", "raw"] as const;
const resetOnly = ["yes", "dry-run"] as const;
const ACTIONS = ["get", "set", "reset", "check"] as const;

const options = {
  role: { type: "string" },
  caller: { type: "string" },
  verb: { type: "string" },
  session: { type: "string" },
  host: { type: "string" },
  file: { type: "string" },
  raw: { type: "boolean" },
  yes: { type: "boolean" },
  "dry-run": { type: "boolean" },
  json: { type: "boolean" },
  "nats-url": { type: "string" },
  timeout: { type: "string" },
} as const;

/** What each action gets: the parsed options, the bus for the duration of a callback, and the printer. */
interface ActionContext {
  values: ParsedCommandArgs<typeof options>["values"];
  withBus<T>(run: (nc: NatsConnection) => Promise<T>): Promise<T>;
  /** Prints `text`, or with --json `{ok:true,data}`. */
  print(data: unknown, text: string): void;
  io: CliIo;
  timeoutMs: number;
  /** The operator sending get or set. */
  operator(): AdminCaller;
}

const note = (io: CliIo, text: string) => io.stderr(`claw-supervisor policy: ${text}\n`);

async function getAction({ withBus, print, io, values, timeoutMs, operator }: ActionContext): Promise<number> {
  const { reply, fallback } = await withBus((nc) => inForceOf(nc, operator(), timeoutMs));
  const { inForce, refused } = reply;
  if (fallback !== undefined) note(io, fallback);
  if (!values.json) {
    if (inForce.source === "default") note(io, `no policy is stored in KV ${bucket}; this is the built-in default`);
    if (inForce.source === "fail-closed")
      note(io, "no stored document is valid: every command is denied (fail closed) until a valid one is set");
    if (refused)
      note(
        io,
        `revision ${refused.revision} was refused and is not in force (${inForce.source === "stored" ? `revision ${inForce.revision} is` : "this is"}): ${refused.reason}`,
      );
  }
  print(
    { inForce, ...(refused === undefined ? {} : { refused }), ...(fallback === undefined ? {} : { fallback }) },
    `${JSON.stringify(inForce.document, null, 2)}\n`,
  );
  return 0;
}

/** Has the policy service store `json` (already validated here); returns the revision it was stored at. */
async function storePolicy({ withBus, timeoutMs, operator }: ActionContext, json: unknown): Promise<number> {
  const request = { caller: operator(), requestId: randomUUID(), document: json };
  const answer = await withBus((nc) => requestAdmin(nc, "policy", "set", request, PolicySetResult, timeoutMs));
  if (!answer.ok) {
    if (answer.reason === "too_large")
      throw new CliError(
        `policy document is ${Buffer.byteLength(JSON.stringify(json))} bytes; the bus accepts at most ${answer.maxPayload} in one message (the NATS server's max_payload; the request would be ${answer.bytes}): nothing was stored`,
      );
    throw answerFailure(answer, "set");
  }
  if (!answer.reply.ok) throw adminFailureError(answer.reply);
  return answer.reply.revision;
}

async function setAction(context: ActionContext, file: string): Promise<number> {
  const { json } = parsePolicy(await readText(file), file === "-" ? "stdin" : file);
  const revision = await storePolicy(context, json);
  context.print({ revision }, `policy stored in KV ${bucket} key '${ACTIVE_POLICY_KEY}', revision ${revision}\n`);
  return 0;
}

/** `reset`: the built-in default stored as a `set` would store it; `--dry-run` says what it would replace. */
async function resetAction(context: ActionContext): Promise<number> {
  const { values, withBus, print, io, timeoutMs, operator } = context;
  if (values.yes && values["dry-run"]) throw new CliError("policy reset takes --yes or --dry-run, not both", 2);
  if (!values.yes && !values["dry-run"])
    throw new CliError(
      "policy reset replaces the policy in force with the built-in default: confirm with --yes, or see what it would replace with --dry-run",
      2,
    );
  if (values["dry-run"]) {
    const { reply, fallback } = await withBus((nc) => inForceOf(nc, operator(), timeoutMs));
    if (fallback !== undefined) note(io, fallback);
    const { source, revision } = reply.inForce;
    const current = sourceText({ source, revision });
    const same = JSON.stringify(reply.inForce.document) === JSON.stringify(DEFAULT_POLICY);
    print(
      { dryRun: true, replaces: { source, revision }, document: DEFAULT_POLICY },
      `policy reset would store the built-in default in KV ${bucket} key '${ACTIVE_POLICY_KEY}', replacing ${current}${same ? " (the same rules)" : ""}; nothing was changed. The default:\n${JSON.stringify(DEFAULT_POLICY, null, 2)}\n`,
    );
    return 0;
  }
  const revision = await storePolicy(context, DEFAULT_POLICY);
  print(
    { revision, document: DEFAULT_POLICY },
    `policy reset: the built-in default stored in KV ${bucket} key '${ACTIVE_POLICY_KEY}', revision ${revision}\n`,
  );
  return 0;
}

/** Exit 0 on allow, 3 on deny. */
async function checkAction({ values, withBus, print, io, timeoutMs, operator }: ActionContext): Promise<number> {
  if (values.role === undefined)
    throw new CliError("policy check needs --role. See 'claw-supervisor policy --help'.", 2);
  if (values.verb === undefined)
    throw new CliError("policy check needs --verb. See 'claw-supervisor policy --help'.", 2);
  const role = optionValue("role", CallerRole, values.role);
  const verb = optionValue("verb", CommandVerb, values.verb);
  if (values.raw && verb !== "read") throw new CliError("--raw applies to --verb read only", 2);
  // Without --caller no id is known, so no callerId-narrowed rule can apply (the empty id matches none).
  const callerId = values.caller === undefined ? "" : optionValue("caller", Caller.shape.id, values.caller);
  const capability = verbCapability(verb, { raw: values.raw === true });
  const { session, host, file } = values;
  const hostFacts: TargetFacts = host === undefined ? {} : { host };
  const filePolicy =
    file === undefined
      ? undefined
      : {
          policy: parsePolicy(await readText(file), file === "-" ? "stdin" : file).policy,
          from: { source: "file", file } as const,
        };
  const inForce = async (nc: NatsConnection): Promise<{ policy: PolicyDocument; from: CheckSource }> => {
    const { reply, fallback } = await inForceOf(nc, operator(), timeoutMs);
    if (fallback !== undefined) note(io, fallback);
    return { policy: reply.inForce.document, from: { source: reply.inForce.source, revision: reply.inForce.revision } };
  };
  const { policy, from, facts } =
    filePolicy !== undefined && session === undefined
      ? { ...filePolicy, facts: hostFacts }
      : await withBus(async (nc) => ({
          ...(filePolicy ?? (await inForce(nc))),
          facts: session === undefined ? hostFacts : await sessionFacts(nc, session, host, timeoutMs),
        }));
  const decision = authorize(policy, { id: callerId, role }, capability, facts, verb);
  if (decision.allow) {
    print(
      { allow: true, capability, ruleId: decision.ruleId, ...from },
      `allow: rule ${decision.ruleId} lets role '${role}' ${capability} (${sourceText(from)})\n`,
    );
    return 0;
  }
  // A deny is the answer, printed on stdout; its exit code and JSON are the verbs' `denied`.
  if (values.json) io.stdout(jsonFailure(decision.code, decision.reason, { allow: false, capability, ...from }));
  else io.stdout(`deny: ${decision.reason} (${sourceText(from)})\n`);
  return EXIT_CODES.denied;
}
/** The `policy` command. */
export const policyCommand: Command = {
  name: "policy",
  summary: "show, replace, reset or try out the policy document (who may do what to which sessions)",
  usage,
  options: Object.keys(options),
  actions: ACTIONS,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("policy", argv, options);
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    const [action, ...rest] = positionals;
    if (action === undefined)
      throw new CliError("policy needs an action: get, set, reset or check. See 'claw-supervisor policy --help'.", 2);
    if (!(ACTIONS as readonly string[]).includes(action)) {
      const guess = closest(action, ACTIONS);
      throw new CliError(
        `unknown policy action '${action}'${guess ? ` (did you mean '${guess}'?)` : ""}; expected get, set, reset or check. See 'claw-supervisor policy --help'.`,
        2,
      );
    }
    if (action !== "check") {
      const misplaced = checkOnly.find((name) => values[name] !== undefined);
      if (misplaced) throw new CliError(`--${misplaced} applies to 'policy check' only`, 2);
    }
    if (action !== "reset") {
      const misplaced = resetOnly.find((name) => values[name] !== undefined);
      if (misplaced) throw new CliError(`--${misplaced} applies to 'policy reset' only`, 2);
    }
    if (action === "set" && rest.length !== 1) {
      throw new CliError(
        `policy set takes one file (or '-' for stdin), got ${rest.length}. See 'claw-supervisor policy --help'.`,
        2,
      );
    }
    if (action !== "set" && rest.length)
      throw new CliError(
        `policy ${action} takes no arguments, got '${rest[0]}'. See 'claw-supervisor policy --help'.`,
        2,
      );
    const timeoutMs =
      values.timeout === undefined ? DEFAULT_QUERY_TIMEOUT_MS : optionValue("timeout", Milliseconds, values.timeout);
    // With check, --caller is the caller being checked; the operator asking is this user.
    const operatorId =
      action === "check" || values.caller === undefined
        ? defaultCallerId(io.env)
        : optionValue("caller", Caller.shape.id, values.caller);
    const context: ActionContext = {
      values,
      io,
      timeoutMs,
      operator: () => ({ role: "operator", id: operatorId }),
      async withBus(run) {
        // Found only when needed: `check --file` alone needs no bus.
        const nc = await connectCli(cliBusUrl(values["nats-url"], io.env), io.env);
        try {
          return await run(nc);
        } finally {
          await nc.close();
        }
      },
      print: (data, text) => io.stdout(values.json ? jsonOk(data) : text),
    };
    if (action === "get") return getAction(context);
    if (action === "set") return setAction(context, rest[0] as string);
    if (action === "reset") return resetAction(context);
    return checkAction(context);
  },
};
