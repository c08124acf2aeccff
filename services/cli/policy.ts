/**
 * `claw-supervisor policy get|set|check`: the policy document in KV `codex-policy` (key `active`) that the
 * policy service enforces, and a dry run of its decision for one caller, verb and target.
 */
import { readFile } from "node:fs/promises";
import type { NatsConnection } from "@nats-io/transport-node";
import { Caller, CallerRole, CommandVerb, issuesText } from "../../schemas/commands.js";
import { ACTIVE_POLICY_KEY, DEFAULT_POLICY, PolicyDocument } from "../../schemas/policy.js";
import { JsErrCode, KV_BUCKET_NAMES, jsApiErrCode, openKvBucket, type KvBucket } from "../bus/index.js";
import { authorize, factsOfSession, verbCapability, type TargetFacts } from "../policy/decide.js";
import { DEFAULT_QUERY_TIMEOUT_MS, getSession } from "../clients/registry-queries.js";
import { Milliseconds, optionValue, parseCommandArgs, type ParsedCommandArgs } from "./args.js";
import { CliError, type CliIo, type Command } from "./io.js";
import { DEFAULT_NATS_URL, connectCli, queryFailure } from "./connection.js";
import { resolveNatsUrl } from "../clients/up-file.js";

const bucket = KV_BUCKET_NAMES.policy;

const usage = `Usage: claw-supervisor policy <get|set|check> [options]

Shows, replaces and tries out the policy document the policy service enforces (KV bucket ${bucket},
key '${ACTIVE_POLICY_KEY}'). While no document is stored, the built-in default applies.

  policy get                      print the active document as JSON
  policy set <file|->             validate a JSON document (a file, or stdin with '-') and make it active
  policy check --role R --verb V  would this caller be allowed? exit 0 on allow, 3 on deny
      [--caller ID]               the caller's id (rules with a callerId match only it)
      [--session ID] [--host H]   the target: the registry's record of session ID (on host H);
                                  --host alone targets a host (e.g. for spawn)
      [--raw]                     with --verb read: a raw transcript read (needs readRaw)
      [--file F]                  check against document F instead of the active one

R is one of ${CallerRole.options.join(", ")}; V one of ${CommandVerb.options.join(", ")}.

--json          print JSON instead of text
--nats-url URL  the bus (default $NATS_URL, else the running 'up', else ${DEFAULT_NATS_URL})
--timeout MS    how long to wait for the registry with --session (default ${DEFAULT_QUERY_TIMEOUT_MS})`;

/** Where a document came from: the built-in default, the KV bucket at a revision, or a file. */
type PolicySource = { source: "default" } | { source: "kv"; revision: number } | { source: "file"; file: string };

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
function parsePolicy(text: string, origin: string): PolicyDocument {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new CliError(`${origin} is not JSON: ${(err as Error).message}`);
  }
  const parsed = PolicyDocument.safeParse(json);
  if (!parsed.success) throw new CliError(`invalid policy in ${origin}: ${issuesText(parsed.error)}`);
  return parsed.data;
}

/** The active document and where it came from; a stored document that no longer validates is an error. */
async function activePolicy(kv: KvBucket): Promise<{ policy: PolicyDocument; from: PolicySource }> {
  const entry = await kv.get(ACTIVE_POLICY_KEY);
  if (entry === null || entry.operation !== "PUT") return { policy: DEFAULT_POLICY, from: { source: "default" } };
  const policy = parsePolicy(entry.string(), `KV ${bucket} key '${ACTIVE_POLICY_KEY}' (revision ${entry.revision})`);
  return { policy, from: { source: "kv", revision: entry.revision } };
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
      `the registry does not know session ${sessionId}${host === undefined ? "" : ` on host ${host}`}`,
    );
  return factsOfSession(record);
}

function sourceText(from: PolicySource): string {
  if (from.source === "default") return "the built-in default policy";
  return from.source === "kv" ? `the active policy, revision ${from.revision}` : `the policy in ${from.file}`;
}

const checkOnly = ["role", "caller", "verb", "session", "host", "file", "raw", "timeout"] as const;

const options = {
  role: { type: "string" },
  caller: { type: "string" },
  verb: { type: "string" },
  session: { type: "string" },
  host: { type: "string" },
  file: { type: "string" },
  raw: { type: "boolean" },
  json: { type: "boolean" },
  "nats-url": { type: "string" },
  timeout: { type: "string" },
} as const;

/** What each action gets: the parsed options, the bus for the duration of a callback, and the printer. */
interface ActionContext {
  values: ParsedCommandArgs<typeof options>["values"];
  withBus<T>(run: (nc: NatsConnection) => Promise<T>): Promise<T>;
  print(json: unknown, text: string): void;
  io: CliIo;
}

async function getAction({ values, withBus, print, io }: ActionContext): Promise<number> {
  const { policy, from } = await withBus(async (nc) => activePolicy(await openPolicyBucket(nc)));
  if (from.source === "default" && !values.json)
    io.stderr(`claw-supervisor policy: no policy is stored in KV ${bucket}; this is the built-in default\n`);
  print({ ...from, policy }, `${JSON.stringify(policy, null, 2)}\n`);
  return 0;
}

async function setAction({ withBus, print }: ActionContext, file: string): Promise<number> {
  const policy = parsePolicy(await readText(file), file === "-" ? "stdin" : file);
  const revision = await withBus(async (nc) =>
    (await openPolicyBucket(nc)).put(ACTIVE_POLICY_KEY, JSON.stringify(policy)),
  );
  print({ source: "kv", revision }, `policy stored in KV ${bucket} key '${ACTIVE_POLICY_KEY}', revision ${revision}\n`);
  return 0;
}

/** Exit 0 on allow, 3 on deny. */
async function checkAction({ values, withBus, print }: ActionContext): Promise<number> {
  if (values.role === undefined)
    throw new CliError("policy check needs --role. See 'claw-supervisor policy --help'.", 2);
  if (values.verb === undefined)
    throw new CliError("policy check needs --verb. See 'claw-supervisor policy --help'.", 2);
  const role = optionValue("role", CallerRole, values.role);
  const verb = optionValue("verb", CommandVerb, values.verb);
  if (values.raw && verb !== "read") throw new CliError("--raw applies to --verb read only", 2);
  // Without --caller no id is known, so no callerId-narrowed rule can apply (the empty id matches none).
  const callerId = values.caller === undefined ? "" : optionValue("caller", Caller.shape.id, values.caller);
  const timeoutMs =
    values.timeout === undefined ? DEFAULT_QUERY_TIMEOUT_MS : optionValue("timeout", Milliseconds, values.timeout);
  const capability = verbCapability(verb, { raw: values.raw === true });
  const { session, host, file } = values;
  const hostFacts: TargetFacts = host === undefined ? {} : { host };
  const filePolicy =
    file === undefined
      ? undefined
      : {
          policy: parsePolicy(await readText(file), file === "-" ? "stdin" : file),
          from: { source: "file", file } as const,
        };
  const { policy, from, facts } =
    filePolicy !== undefined && session === undefined
      ? { ...filePolicy, facts: hostFacts }
      : await withBus(async (nc) => ({
          ...(filePolicy ?? (await activePolicy(await openPolicyBucket(nc)))),
          facts: session === undefined ? hostFacts : await sessionFacts(nc, session, host, timeoutMs),
        }));
  const decision = authorize(policy, { id: callerId, role }, capability, facts);
  if (decision.allow) {
    print(
      { allow: true, capability, ruleId: decision.ruleId, ...from },
      `allow: rule ${decision.ruleId} lets role '${role}' ${capability} (${sourceText(from)})\n`,
    );
    return 0;
  }
  print(
    { allow: false, capability, code: decision.code, reason: decision.reason, ...from },
    `deny: ${decision.reason} (${sourceText(from)})\n`,
  );
  return 3;
}

/** The `policy` command. */
export const policyCommand: Command = {
  name: "policy",
  summary: "show, replace or try out the policy document (who may do what to which sessions)",
  usage,
  async run(argv: string[], io: CliIo): Promise<number> {
    const { values, positionals } = parseCommandArgs("policy", argv, options);
    if (values.help) {
      io.stdout(`${usage}\n`);
      return 0;
    }
    const [action, ...rest] = positionals;
    if (action === undefined)
      throw new CliError("policy needs an action: get, set or check. See 'claw-supervisor policy --help'.", 2);
    if (action !== "get" && action !== "set" && action !== "check") {
      throw new CliError(
        `unknown policy action '${action}'; expected get, set or check. See 'claw-supervisor policy --help'.`,
        2,
      );
    }
    if (action !== "check") {
      const misplaced = checkOnly.find((name) => values[name] !== undefined);
      if (misplaced) throw new CliError(`--${misplaced} applies to 'policy check' only`, 2);
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
    const url = resolveNatsUrl(values["nats-url"], io.env) ?? DEFAULT_NATS_URL;
    const context: ActionContext = {
      values,
      io,
      async withBus(run) {
        const nc = await connectCli(url);
        try {
          return await run(nc);
        } finally {
          await nc.close();
        }
      },
      print: (json, text) => io.stdout(values.json ? `${JSON.stringify(json, null, 2)}\n` : text),
    };
    if (action === "get") return getAction(context);
    if (action === "set") return setAction(context, rest[0] as string);
    return checkAction(context);
  },
};
