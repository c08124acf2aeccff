/**
 * The deploy files against the CLI they run. No container engine or cluster runs on the build machines, so this
 * reads every file instead: the Dockerfile line by line, compose.yaml and the Kubernetes manifests with `yaml`,
 * and checks
 * - each `claw-supervisor` command and flag against the real CLI (its `service --help`, then an in-process run
 *   with the very arguments, which must get as far as dialling the bus);
 * - each probe and healthcheck port and path against the service's `--health-port` (and `--health-host 0.0.0.0`);
 * - the image, compose services and pods run as a non-root user;
 * - every environment variable the files reference is documented in deploy/README.md;
 * - the shape the issue asks for: 3 NATS nodes with `sync_interval: always` on at least 2.10.23, two instances of
 *   the gateway, registry and policy service, a PodDisruptionBudget per Deployment, the permissions of deploy/nats/.
 * The checker returns a list of problems; the last tests feed it broken copies to show it finds them.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { parse, parseAllDocuments } from "yaml";
import { runCliInProcess } from "../services/cli/test-cli.js";
import { CONTAINER_HEALTH_PORT } from "../services/ops/health.js";
import { freePorts, natsServerBinary } from "../test/support/nats-server.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const read = (p: string): string => readFileSync(path.join(root, p), "utf8");

/** Every deploy file the checker reads, by repository path; tests pass altered copies. */
type DeployFiles = Record<string, string>;

function loadDeployFiles(): DeployFiles {
  const files: DeployFiles = {};
  const k8s = readdirSync(path.join(root, "deploy/k8s")).filter((f) => f.endsWith(".yaml"));
  for (const p of [
    "Dockerfile",
    ".dockerignore",
    "package.json",
    "deploy/README.md",
    "deploy/nats/permissions.conf",
    "deploy/compose/compose.yaml",
    "deploy/compose/nats.conf",
    ...k8s.map((f) => `deploy/k8s/${f}`),
  ])
    files[p] = read(p);
  return files;
}

/** One `claw-supervisor` process a deploy file starts. */
interface Unit {
  /** Where, for messages: `deploy/compose/compose.yaml services.gateway-1`. */
  where: string;
  /** The arguments after the entry point, variables substituted with sample values. */
  args: string[];
  /** Its environment, sample values substituted. */
  env: Record<string, string>;
  /** Health checks: the port and path each one asks. */
  probes: { what: string; port: number; path: string }[];
  /** Container ports (besides the health port) and published ports it expects its own `--port` on. */
  servicePorts: number[];
  /** The user it runs as, as the file says it (undefined: not said). */
  user: string | number | undefined;
  /** Whether the file also insists on a non-root user (Kubernetes runAsNonRoot). */
  nonRootEnforced: boolean;
}

/** Sample values for the variables the files leave to the operator. */
const SAMPLES: Record<string, string> = {
  CLAW_MCP_PUBLIC_URL: "https://claw-mcp.example.com/mcp",
  CLAW_MCP_PUBLIC_HOST: "claw-mcp.example.com",
  CLAW_DASHBOARD_ORIGIN: "https://claw.example.com",
  CLAW_DASHBOARD_COOKIE_SECRET: "s".repeat(48),
  POD_NAME: "claw-registry-5d8f9c7b6-x2x4q",
};

const flagsOf = (args: string[]): string[] => args.filter((a) => a.startsWith("--"));
const flagValue = (args: string[], flag: string): string | undefined => {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
};

/** Variables `${NAME}`, `${NAME:-x}`, `${NAME:?x}` a compose file interpolates. */
function composeVariables(text: string): string[] {
  return [...text.matchAll(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-?+][^}]*)?\}/g)].map((m) => m[1]!);
}

function interpolateCompose(text: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?([-?+])([^}]*))?\}/g, (_all, name: string, op, rest) =>
    SAMPLES[name] !== undefined ? SAMPLES[name] : op === "-" ? rest : `sample-${name.toLowerCase()}`,
  );
}

function composeUnits(files: DeployFiles): { units: Unit[]; problems: string[] } {
  const file = "deploy/compose/compose.yaml";
  const doc = parse(files[file]!, { merge: true }) as { services: Record<string, any> };
  const units: Unit[] = [];
  const problems: string[] = [];
  for (const [name, svc] of Object.entries(doc.services)) {
    if (String(svc.image ?? "").startsWith("nats:")) continue;
    const where = `${file} services.${name}`;
    if (!Array.isArray(svc.command)) {
      problems.push(`${where}: command must be a list (the entry point is claw-supervisor)`);
      continue;
    }
    const args = (svc.command as string[]).map((a) => interpolateCompose(String(a)));
    const env = Object.fromEntries(
      Object.entries((svc.environment ?? {}) as Record<string, string>).map(([k, v]) => [
        k,
        interpolateCompose(String(v)),
      ]),
    );
    const probes: Unit["probes"] = [];
    const test = svc.healthcheck?.test;
    if (svc.healthcheck?.disable !== true) {
      const joined = Array.isArray(test) ? test.join(" ") : String(test ?? "");
      const m = /http:\/\/(?:127\.0\.0\.1|localhost):(\d+)(\/[a-z]+)/.exec(joined);
      if (!m) problems.push(`${where}: healthcheck asks no http://127.0.0.1:<port>/<path>`);
      else probes.push({ what: "healthcheck", port: Number(m[1]), path: m[2]! });
    }
    const servicePorts = ((svc.ports ?? []) as string[]).map((p) => Number(String(p).split(":").at(-1)));
    units.push({ where, args, env, probes, servicePorts, user: svc.user, nonRootEnforced: false });
  }
  return { units, problems };
}

interface K8sObject {
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: any;
}

function k8sObjects(files: DeployFiles): { file: string; obj: K8sObject }[] {
  const out: { file: string; obj: K8sObject }[] = [];
  for (const [file, text] of Object.entries(files)) {
    if (!file.startsWith("deploy/k8s/") || file.endsWith("nats-values.yaml") || file.endsWith("kustomization.yaml"))
      continue;
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length) throw new Error(`${file}: ${doc.errors[0]!.message}`);
      const obj = doc.toJS() as K8sObject | null;
      if (obj) out.push({ file, obj });
    }
  }
  return out;
}

function k8sUnits(files: DeployFiles): { units: Unit[]; problems: string[] } {
  const units: Unit[] = [];
  const problems: string[] = [];
  const objects = k8sObjects(files);
  const configMaps = new Map(
    objects.filter((o) => o.obj.kind === "ConfigMap").map((o) => [o.obj.metadata.name, o.obj as any]),
  );
  for (const { file, obj } of objects) {
    if (obj.kind !== "Deployment" && obj.kind !== "Job") continue;
    const pod = obj.spec.template.spec;
    for (const c of pod.containers as any[]) {
      const where = `${file} ${obj.kind}/${obj.metadata.name} container ${c.name}`;
      // Resolve the container's env in order, then $(VAR) in args, as the kubelet does.
      const env: Record<string, string> = {};
      for (const e of (c.env ?? []) as any[]) {
        let v: string | undefined;
        if (typeof e.value === "string")
          v = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all: string, n: string) => env[n] ?? all);
        else if (e.valueFrom?.fieldRef) v = SAMPLES.POD_NAME;
        else if (e.valueFrom?.secretKeyRef) v = SAMPLES[e.name] ?? `secret-${e.valueFrom.secretKeyRef.key}`;
        else if (e.valueFrom?.configMapKeyRef) {
          const ref = e.valueFrom.configMapKeyRef;
          v = configMaps.get(ref.name)?.data?.[ref.key];
          if (v === undefined)
            problems.push(`${where}: env ${e.name} names ConfigMap ${ref.name} key ${ref.key}, not in deploy/k8s`);
        }
        if (v !== undefined) env[e.name] = v;
      }
      const args = ((c.args ?? []) as unknown[]).map((a) =>
        String(a).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (all: string, n: string) => {
          if (env[n] === undefined) problems.push(`${where}: args use $(${n}), which its env does not set`);
          return env[n] ?? all;
        }),
      );
      if (c.command !== undefined)
        problems.push(`${where}: sets command; the image's entry point must stay claw-supervisor`);
      const named = new Map<string, number>(((c.ports ?? []) as any[]).map((p) => [p.name, p.containerPort]));
      const portOf = (p: unknown): number => (typeof p === "number" ? p : (named.get(String(p)) ?? Number.NaN));
      const probes: Unit["probes"] = [];
      for (const kind of ["readinessProbe", "livenessProbe", "startupProbe"]) {
        const get = c[kind]?.httpGet;
        if (get) probes.push({ what: kind, port: portOf(get.port), path: String(get.path) });
      }
      if (obj.kind === "Deployment") {
        if (!c.readinessProbe) problems.push(`${where}: no readinessProbe`);
        if (!c.livenessProbe) problems.push(`${where}: no livenessProbe`);
        const ann = obj.spec.template.metadata?.annotations ?? {};
        if (ann["prometheus.io/port"] !== undefined)
          probes.push({
            what: "prometheus.io/port",
            port: Number(ann["prometheus.io/port"]),
            path: ann["prometheus.io/path"] ?? "/metrics",
          });
      }
      const servicePorts = ((c.ports ?? []) as any[]).filter((p) => p.name !== "health").map((p) => p.containerPort);
      const sc = { ...(pod.securityContext ?? {}), ...(c.securityContext ?? {}) };
      units.push({
        where,
        args,
        env,
        probes,
        servicePorts,
        user: sc.runAsUser,
        nonRootEnforced: sc.runAsNonRoot === true,
      });
    }
  }
  return { units, problems };
}

/** The shared flags and each service's flags, as `claw-supervisor service --help` lists them. */
async function serviceHelp(): Promise<{
  services: string[];
  shared: Set<string>;
  perService: Map<string, Set<string>>;
}> {
  const help = await runCliInProcess(["service", "--help"]);
  if (help.code !== 0) throw new Error(`service --help exited ${help.code}: ${help.stderr}`);
  const lines = help.stdout.split("\n");
  const services: string[] = [];
  const shared = new Set<string>();
  const perService = new Map<string, Set<string>>();
  let section: Set<string> | undefined = shared;
  let inList = false;
  for (const line of lines) {
    if (line === "Services:") {
      inList = true;
      continue;
    }
    if (inList) {
      const m = /^ {2}([a-z-]+) {2,}/.exec(line);
      if (m) {
        services.push(m[1]!);
        continue;
      }
      inList = false;
    }
    const header = /^([a-z-]+):$/.exec(line);
    if (header && services.includes(header[1]!)) {
      section = new Set();
      perService.set(header[1]!, section);
      continue;
    }
    for (const m of line.matchAll(/^\s*(--[a-z][a-z-]*)/g)) section?.add(m[1]!);
  }
  return { services, shared, perService };
}

/** Every problem found in the deploy files; empty when they agree with each other and with the CLI. */
async function checkDeployFiles(files: DeployFiles, opts: { runCli?: boolean } = {}): Promise<string[]> {
  const problems: string[] = [];
  const compose = composeUnits(files);
  const k8s = k8sUnits(files);
  problems.push(...compose.problems, ...k8s.problems);
  const units = [...compose.units, ...k8s.units];
  const help = await serviceHelp();
  const closedPort = (await freePorts(1))[0]!;

  for (const u of units) {
    // The command and its flags, against `service --help`.
    const [command, name] = u.args;
    if (command !== "service" || name === undefined || !help.services.includes(name)) {
      problems.push(`${u.where}: runs 'claw-supervisor ${u.args.slice(0, 2).join(" ")}', not one of its services`);
      continue;
    }
    for (const flag of flagsOf(u.args))
      if (!help.shared.has(flag) && !help.perService.get(name)?.has(flag))
        problems.push(`${u.where}: flag ${flag} is not in 'claw-supervisor service --help' for ${name}`);
    // Health: on every interface, on the port every probe asks.
    const ensureOnly = u.args.includes("--ensure-only");
    const healthPort = flagValue(u.args, "--health-port");
    if (!ensureOnly) {
      if (healthPort !== String(CONTAINER_HEALTH_PORT))
        problems.push(`${u.where}: --health-port is ${healthPort ?? "missing"}, not ${CONTAINER_HEALTH_PORT}`);
      if (flagValue(u.args, "--health-host") !== "0.0.0.0")
        problems.push(`${u.where}: --health-host must be 0.0.0.0, or probes from outside the container fail`);
      if (u.probes.length === 0) problems.push(`${u.where}: no health check`);
    }
    for (const p of u.probes) {
      if (String(p.port) !== healthPort)
        problems.push(`${u.where}: ${p.what} asks port ${p.port}, but --health-port is ${healthPort ?? "missing"}`);
      const want = p.what === "livenessProbe" ? "/healthz" : p.what === "prometheus.io/port" ? "/metrics" : "/readyz";
      if (p.path !== want) problems.push(`${u.where}: ${p.what} asks ${p.path}, should be ${want}`);
    }
    for (const port of u.servicePorts)
      if (flagValue(u.args, "--port") !== String(port))
        problems.push(
          `${u.where}: exposes port ${port}, but its --port is ${flagValue(u.args, "--port") ?? "missing"}`,
        );
    // Not root.
    const uid = typeof u.user === "number" ? u.user : Number(String(u.user ?? "").split(":")[0]);
    if (u.user === undefined || !Number.isInteger(uid) || uid === 0)
      problems.push(`${u.where}: runs as ${u.user ?? "the image's user unchecked"}; give a numeric non-root uid`);
    if (u.where.startsWith("deploy/k8s/") && !u.nonRootEnforced) problems.push(`${u.where}: no runAsNonRoot: true`);
    // The very arguments through the real CLI: it must get as far as dialling the bus (a closed port here).
    if (opts.runCli !== false) {
      const run = await runCliInProcess(u.args, { ...u.env, NATS_URL: `nats://127.0.0.1:${closedPort}` });
      if (!(run.code === 1 && run.stderr.startsWith("claw-supervisor service: cannot connect to NATS")))
        problems.push(`${u.where}: the CLI refused its arguments (exit ${run.code}): ${run.stderr.trim()}`);
    }
  }

  problems.push(...composeShape(files, compose.units), ...k8sShape(files), ...natsValuesProblems(files));
  problems.push(...dockerfileProblems(files), ...documentedEnvProblems(files));
  return problems;
}

function atLeast(version: string, min: [number, number, number]): boolean {
  const v = /^(\d+)\.(\d+)\.(\d+)/.exec(version)?.slice(1).map(Number);
  if (!v) return false;
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i]! > min[i]!;
  return true;
}

function composeShape(files: DeployFiles, units: Unit[]): string[] {
  const problems: string[] = [];
  const file = "deploy/compose/compose.yaml";
  const doc = parse(files[file]!, { merge: true }) as { services: Record<string, any> };
  const nats = Object.entries(doc.services).filter(([, s]) => String(s.image ?? "").startsWith("nats:"));
  if (nats.length !== 3) problems.push(`${file}: ${nats.length} NATS nodes, not 3`);
  for (const [name, s] of nats) {
    const tag = String(s.image).slice("nats:".length);
    if (!atLeast(tag, [2, 10, 23])) problems.push(`${file} services.${name}: nats image ${tag} is older than 2.10.23`);
    if (!files["deploy/compose/nats.conf"]!.includes(`nats-route://${name}:6222`))
      problems.push(`deploy/compose/nats.conf: no route to ${name}`);
  }
  if (!/^\s*sync_interval:\s*always\s*$/m.test(files["deploy/compose/nats.conf"]!))
    problems.push("deploy/compose/nats.conf: no `sync_interval: always` in its jetstream block");
  const count = (service: string) => units.filter((u) => u.args[1] === service && !u.args.includes("--ensure-only"));
  for (const [service, n] of [
    ["rpc-gateway", 2],
    ["registry", 2],
    ["policy", 2],
    ["mcp-edge", 1],
    ["dashboard", 1],
  ] as const)
    if (count(service).length < n) problems.push(`${file}: ${count(service).length} ${service} services, want ${n}`);
  const instances = units.map((u) => flagValue(u.args, "--instance"));
  if (new Set(instances).size !== instances.length) problems.push(`${file}: two services share an --instance id`);
  const bootstrap = units.find((u) => u.args.includes("--ensure-only"));
  if (!bootstrap || flagValue(bootstrap.args, "--replicas") !== "3")
    problems.push(`${file}: no bootstrap service running --ensure-only --replicas 3`);
  for (const [name, s] of Object.entries(doc.services))
    if (!String(s.image ?? "").startsWith("nats:") && !(s.command as string[]).includes("--ensure-only"))
      if (s.depends_on?.bootstrap?.condition !== "service_completed_successfully")
        problems.push(`${file} services.${name}: does not wait for bootstrap to complete`);
  return problems;
}

function k8sShape(files: DeployFiles): string[] {
  const problems: string[] = [];
  const objects = k8sObjects(files);
  const matches = (selector: Record<string, string> | undefined, labels: Record<string, string> | undefined) =>
    selector !== undefined &&
    Object.keys(selector).length > 0 &&
    Object.entries(selector).every(([k, v]) => labels?.[k] === v);
  for (const { file, obj } of objects.filter((o) => o.obj.kind === "Deployment")) {
    const where = `${file} Deployment/${obj.metadata.name}`;
    const labels = obj.spec.template.metadata?.labels;
    if (!matches(obj.spec.selector?.matchLabels, labels)) problems.push(`${where}: selector does not match its pods`);
    if (!(obj.spec.replicas >= 2)) problems.push(`${where}: replicas ${obj.spec.replicas}, want at least 2`);
    if (!objects.some((o) => o.obj.kind === "PodDisruptionBudget" && matches(o.obj.spec.selector?.matchLabels, labels)))
      problems.push(`${where}: no PodDisruptionBudget selects its pods`);
    if (!objects.some((o) => o.obj.kind === "Service" && matches(o.obj.spec.selector, labels)))
      problems.push(`${where}: no Service selects its pods`);
  }
  for (const component of ["rpc-gateway", "registry", "policy", "mcp-edge", "dashboard"])
    if (
      !objects.some(
        (o) => o.obj.kind === "Deployment" && o.obj.spec.template.spec.containers[0].args?.[1] === component,
      )
    )
      problems.push(`deploy/k8s: no Deployment runs 'service ${component}'`);
  const kustomization = parse(files["deploy/k8s/kustomization.yaml"] ?? "") as { resources?: string[] } | null;
  const listed = new Set(kustomization?.resources ?? []);
  for (const file of Object.keys(files))
    if (
      file.startsWith("deploy/k8s/") &&
      !/(kustomization|nats-values)\.yaml$/.test(file) &&
      !listed.has(path.basename(file))
    )
      problems.push(`deploy/k8s/kustomization.yaml: does not list ${path.basename(file)}`);
  return problems;
}

/** The command that copies deploy/nats/permissions.conf into nats-values.yaml again. */
const PASTE_PERMISSIONS =
  'node -e \'const fs=require("fs"),f="deploy/k8s/nats-values.yaml",p=fs.readFileSync("deploy/nats/permissions.conf","utf8")' +
  '.replace(/^(?=.)/gm," ".repeat(8));fs.writeFileSync(f,fs.readFileSync(f,"utf8").replace(/( {6}permissions\\.conf: \\|\\n)[\\s\\S]*?\\n(?=container:)/,(_,a)=>a+p+"\\n"))\'';

function natsValuesProblems(files: DeployFiles): string[] {
  const file = "deploy/k8s/nats-values.yaml";
  const v = parse(files[file] ?? "") as any;
  const problems: string[] = [];
  if (v?.config?.cluster?.enabled !== true || v.config.cluster.replicas !== 3)
    problems.push(`${file}: not a 3-node cluster`);
  if (v?.config?.jetstream?.enabled !== true || v.config.jetstream.fileStore?.enabled !== true)
    problems.push(`${file}: JetStream file storage is not enabled`);
  if (v?.config?.jetstream?.merge?.sync_interval !== "always")
    problems.push(`${file}: no jetstream sync_interval: always`);
  if (!atLeast(String(v?.container?.image?.tag ?? ""), [2, 10, 23]))
    problems.push(`${file}: nats image tag older than 2.10.23`);
  const included = Object.entries(v?.config?.merge ?? {}).some(
    ([k, x]) => k.endsWith("$include") && x === "permissions.conf",
  );
  if (!included) problems.push(`${file}: nats.conf does not include permissions.conf`);
  if (v?.configMap?.merge?.data?.["permissions.conf"] !== files["deploy/nats/permissions.conf"])
    problems.push(
      `${file}: configMap.merge.data."permissions.conf" is not deploy/nats/permissions.conf verbatim: ${PASTE_PERMISSIONS}`,
    );
  for (const variable of files["deploy/nats/permissions.conf"]!.matchAll(/\$(CLAW_NATS_[A-Z]+_PASSWORD)/g))
    if (!v?.container?.env?.[variable[1]!]) problems.push(`${file}: container.env does not set ${variable[1]}`);
  return problems;
}

/** Docker's .dockerignore rules: the last matching pattern wins; a pattern matching a parent covers its contents. */
function dockerignored(ignore: string, file: string): boolean {
  let excluded = false;
  for (const raw of ignore.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    const negate = line.startsWith("!");
    const pattern = (negate ? line.slice(1) : line).replace(/^\/+|\/+$/g, "");
    const re = new RegExp(
      `^${pattern
        .split("**")
        .map((part) =>
          part
            .replace(/[.+^${}()|[\]\\]/g, "\\$&")
            .replace(/\*/g, "[^/]*")
            .replace(/\?/g, "[^/]"),
        )
        .join(".*")}$`,
    );
    const parts = file.split("/");
    const hit = parts.some((_, i) => re.test(parts.slice(0, i + 1).join("/")));
    if (hit) excluded = !negate;
  }
  return excluded;
}

function dockerfileProblems(files: DeployFiles): string[] {
  const problems: string[] = [];
  const where = "Dockerfile";
  // Line-wise, with `\` continuations joined and comments dropped.
  const instructions = files
    .Dockerfile!.replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), rest: m[2]! };
    });
  const args = new Map<string, string>();
  for (const i of instructions) {
    const m = i.op === "ARG" ? /^([A-Za-z_]+)=(\S+)$/.exec(i.rest) : null;
    if (m) args.set(m[1]!, m[2]!);
  }
  const stages: { from: string; name?: string; lines: { op: string; rest: string }[] }[] = [];
  for (const i of instructions) {
    if (i.op === "FROM") {
      const [image, , name] = i.rest.replace(/\$\{(\w+)\}/g, (_a, n: string) => args.get(n) ?? "").split(/\s+/);
      stages.push({ from: image!, ...(name ? { name } : {}), lines: [] });
    } else stages.at(-1)?.lines.push(i);
  }
  if (stages.length < 2) problems.push(`${where}: ${stages.length} stage(s); the image is built multi-stage`);
  const final = stages.at(-1);
  if (!final) return problems;
  if (!/-slim$/.test(final.from)) problems.push(`${where}: the runtime stage is ${final.from}, not a slim Node image`);
  const user = final.lines.filter((l) => l.op === "USER").at(-1)?.rest;
  const uid = Number(user?.split(":")[0]);
  if (user === undefined || !Number.isInteger(uid) || uid === 0)
    problems.push(`${where}: the runtime stage runs as ${user ?? "root (no USER)"}; give a numeric non-root uid`);
  const entry = final.lines.filter((l) => l.op === "ENTRYPOINT").at(-1)?.rest;
  if (entry === undefined || JSON.stringify(JSON.parse(entry)) !== JSON.stringify(["claw-supervisor"]))
    problems.push(`${where}: ENTRYPOINT is ${entry}, not ["claw-supervisor"]`);
  const pkg = JSON.parse(files["package.json"]!) as { bin: Record<string, string>; scripts: Record<string, string> };
  const workdir = final.lines.filter((l) => l.op === "WORKDIR").at(-1)?.rest ?? "/";
  const link = final.lines.find((l) => l.op === "RUN" && /\bln -s\b.*\/claw-supervisor$/.test(l.rest));
  if (link?.rest.split(/\s+/).at(-2) !== path.posix.join(workdir, pkg.bin["claw-supervisor"]!))
    problems.push(`${where}: /usr/local/bin/claw-supervisor does not link to package.json's bin`);
  const exposed = final.lines.filter((l) => l.op === "EXPOSE").map((l) => l.rest);
  if (!exposed.includes(String(CONTAINER_HEALTH_PORT)))
    problems.push(`${where}: does not EXPOSE ${CONTAINER_HEALTH_PORT}`);
  for (const stage of stages)
    for (const l of stage.lines) {
      for (const m of l.rest.matchAll(/\bnpm run ([\w:-]+)/g))
        if (!pkg.scripts[m[1]!]) problems.push(`${where}: runs 'npm run ${m[1]}', which package.json does not have`);
      if (l.op !== "COPY" || l.rest.startsWith("--from")) continue;
      const parts = l.rest.split(/\s+/).slice(0, -1);
      for (const src of parts) {
        if (!existsSync(path.join(root, src))) problems.push(`${where}: COPY ${src}: no such file in the repository`);
        else if (dockerignored(files[".dockerignore"]!, src))
          problems.push(`${where}: COPY ${src}: .dockerignore leaves it out`);
      }
    }
  // What the build compiles must be in the build context.
  const built = spawnSync("git", ["ls-files", "schemas", "machines", "services"], { cwd: root, encoding: "utf8" });
  for (const f of built.stdout.split("\n").filter((x) => x && !/\.test\.ts$|\/test-[^/]*\.ts$/.test(x)))
    if (dockerignored(files[".dockerignore"]!, f)) {
      problems.push(`.dockerignore: leaves out ${f}, which the build needs`);
      break;
    }
  return problems;
}

function documentedEnvProblems(files: DeployFiles): string[] {
  const readme = files["deploy/README.md"]!;
  const used = new Set<string>(composeVariables(files["deploy/compose/compose.yaml"]!));
  for (const { obj } of k8sObjects(files))
    for (const c of (obj.spec?.template?.spec?.containers ?? []) as any[])
      for (const e of (c.env ?? []) as any[]) used.add(e.name);
  for (const name of Object.keys((parse(files["deploy/k8s/nats-values.yaml"] ?? "") as any)?.container?.env ?? {}))
    used.add(name);
  const compose = parse(files["deploy/compose/compose.yaml"]!, { merge: true }) as { services: Record<string, any> };
  for (const s of Object.values(compose.services)) for (const name of Object.keys(s.environment ?? {})) used.add(name);
  return [...used]
    .filter((name) => !readme.includes(`\`${name}\``))
    .map((name) => `deploy/README.md: does not document the environment variable ${name} (as \`${name}\`)`);
}

describe("deploy files", () => {
  let files: DeployFiles;
  beforeAll(() => {
    files = loadDeployFiles();
  });

  it("agree with the CLI and with each other", async () => {
    expect(await checkDeployFiles(files)).toEqual([]);
  });

  it("start the processes they mean to: every service, its flags as given", async () => {
    const units = [...composeUnits(files).units, ...k8sUnits(files).units];
    const gateway = units.find((u) => u.where.endsWith("services.gateway-2"))!;
    expect(gateway.args).toEqual([
      "service",
      "rpc-gateway",
      "--host",
      "0.0.0.0",
      "--port",
      "7410",
      "--health-port",
      "9464",
      "--health-host",
      "0.0.0.0",
      "--instance",
      "gateway-2",
    ]);
    expect(gateway.probes).toEqual([{ what: "healthcheck", port: 9464, path: "/readyz" }]);
    const registryPod = units.find((u) => u.where.includes("Deployment/claw-registry"))!;
    expect(registryPod.args).toContain(SAMPLES.POD_NAME);
    expect(registryPod.env.NATS_URL).toBe("nats://registry:secret-registry@claw-nats:4222");
    expect(registryPod.probes.map((p) => `${p.what} ${p.port} ${p.path}`).sort()).toEqual([
      "livenessProbe 9464 /healthz",
      "prometheus.io/port 9464 /metrics",
      "readinessProbe 9464 /readyz",
    ]);
    const edgePod = units.find((u) => u.where.includes("Deployment/claw-mcp-edge"))!;
    expect(flagValue(edgePod.args, "--allowed-host")).toBe("claw-mcp.example.com");
    // compose: a bootstrap, 2 gateways, 2 registries, 2 policy services, an MCP edge, a dashboard;
    // Kubernetes: the bootstrap Job and one Deployment per service.
    const count = (service: string) => units.filter((u) => u.args[1] === service).length;
    expect(units).toHaveLength(15);
    expect([count("rpc-gateway"), count("registry"), count("policy"), count("mcp-edge"), count("dashboard")]).toEqual([
      3, 5, 3, 2, 2,
    ]);
  });

  it("the compose NATS config parses in a real nats-server with the permissions it includes", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "claw-deploy-nats-"));
    try {
      const binary = natsServerBinary();
      const version =
        /v?(\d+\.\d+\.\d+)/.exec(spawnSync(binary, ["--version"], { encoding: "utf8" }).stdout)?.[1] ?? "0.0.0";
      let conf = files["deploy/compose/nats.conf"]!;
      // `sync_interval` is 2.10's; an older server here (Debian's 2.9.10) parses the rest without it.
      if (!atLeast(version, [2, 10, 0])) conf = conf.replace(/^\s*sync_interval:.*$/m, "");
      const env = {
        PATH: process.env.PATH ?? "",
        NATS_SERVER_NAME: "nats-1",
        ...Object.fromEntries(
          ["ADMIN", "POLICY", "GATEWAY", "REGISTRY", "OPERATOR", "CLIENT", "CLAW"].map((u) => [
            `CLAW_NATS_${u}_PASSWORD`,
            `p${u.toLowerCase()}1`,
          ]),
        ),
      };
      const check = (text: string) => {
        writeFileSync(path.join(dir, "nats.conf"), text);
        return spawnSync(binary, ["-t", "-c", path.join(dir, "nats.conf")], { env, encoding: "utf8" });
      };
      copyFileSync(path.join(root, "deploy/nats/permissions.conf"), path.join(dir, "permissions.conf"));
      const ok = check(conf);
      expect(ok.status, `${ok.stdout}${ok.stderr}`).toBe(0);
      // The parse is real: a misspelt key, or a password variable left unset, fails it.
      expect(check(conf.replace("store_dir", "store_dri")).status).not.toBe(0);
      const unset = spawnSync(binary, ["-t", "-c", path.join(dir, "nats.conf")], {
        env: { ...env, CLAW_NATS_CLIENT_PASSWORD: undefined },
        encoding: "utf8",
      });
      expect(unset.status).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(spawnSync("kubectl", ["version", "--client"]).status !== 0)(
    "kubectl kustomize renders deploy/k8s (kubectl is here; no cluster is needed for it)",
    () => {
      const out = spawnSync("kubectl", ["kustomize", path.join(root, "deploy/k8s")], { encoding: "utf8" });
      expect(out.status, out.stderr).toBe(0);
      const kinds = parseAllDocuments(out.stdout).map((d) => (d.toJS() as K8sObject).kind);
      expect(kinds.filter((k) => k === "Deployment")).toHaveLength(5);
      expect(kinds.filter((k) => k === "PodDisruptionBudget")).toHaveLength(5);
      expect(kinds).toContain("Job");
    },
  );

  describe("find what is wrong (each check can fail)", () => {
    const broken = async (file: string, from: string | RegExp, to: string): Promise<string[]> => {
      const copy = { ...files, [file]: files[file]!.replace(from, to) };
      expect(copy[file]).not.toBe(files[file]);
      return checkDeployFiles(copy, { runCli: file === "deploy/compose/compose.yaml" });
    };

    it("a flag the CLI does not have, in both the help check and the real run", async () => {
      const problems = await broken(
        "deploy/compose/compose.yaml",
        '"--health-port", "9464", "--health-host", "0.0.0.0", "--instance", "gateway-2"',
        '"--health-prot", "9464", "--health-host", "0.0.0.0", "--instance", "gateway-2"',
      );
      expect(problems).toContain(
        "deploy/compose/compose.yaml services.gateway-2: flag --health-prot is not in 'claw-supervisor service --help' for rpc-gateway",
      );
      expect(problems.join("\n")).toMatch(
        /services\.gateway-2: the CLI refused its arguments \(exit 2\): .*Unknown option '--health-prot'/,
      );
    });

    it("a value the CLI refuses", async () => {
      const problems = await broken(
        "deploy/compose/compose.yaml",
        '"--instance", "registry-1"',
        '"--instance", "registry one"',
      );
      expect(problems.join("\n")).toMatch(
        /services\.registry-1: the CLI refused its arguments \(exit 2\): .*--instance: must be visible ASCII/,
      );
    });

    it("a probe on another port than --health-port, a healthcheck on another path", async () => {
      const k8s = await broken(
        "deploy/k8s/registry.yaml",
        /path: \/readyz\n(\s+)port: health/,
        "path: /readyz\n$1port: 9465",
      );
      expect(k8s).toContain(
        "deploy/k8s/registry.yaml Deployment/claw-registry container registry: readinessProbe asks port 9465, but --health-port is 9464",
      );
      const compose = await broken("deploy/compose/compose.yaml", "127.0.0.1:9464/readyz", "127.0.0.1:9464/healthz");
      expect(compose).toContain(
        "deploy/compose/compose.yaml services.gateway-1: healthcheck asks /healthz, should be /readyz",
      );
    });

    it("root in the image, in compose and in a pod", async () => {
      expect(await broken("Dockerfile", "USER 10001:10001", "USER root")).toContain(
        "Dockerfile: the runtime stage runs as root; give a numeric non-root uid",
      );
      expect(await broken("deploy/compose/compose.yaml", 'user: "10001:10001"', 'user: "0:0"')).toContain(
        "deploy/compose/compose.yaml services.registry-1: runs as 0:0; give a numeric non-root uid",
      );
      expect(await broken("deploy/k8s/policy.yaml", "runAsNonRoot: true", "runAsNonRoot: false")).toContain(
        "deploy/k8s/policy.yaml Deployment/claw-policy container policy: no runAsNonRoot: true",
      );
    });

    it("an undocumented variable, drifted permissions, a lost PodDisruptionBudget, a lazy fsync", async () => {
      expect(await broken("deploy/README.md", /`CLAW_MCP_PUBLIC_HOST`/g, "CLAW_MCP_PUBLIC_HOST")).toContain(
        "deploy/README.md: does not document the environment variable CLAW_MCP_PUBLIC_HOST (as `CLAW_MCP_PUBLIC_HOST`)",
      );
      expect((await broken("deploy/nats/permissions.conf", "codex.rpc.>", "codex.rpc.*")).join("\n")).toContain(
        'configMap.merge.data."permissions.conf" is not deploy/nats/permissions.conf verbatim',
      );
      expect(await broken("deploy/k8s/mcp-edge.yaml", "kind: PodDisruptionBudget", "kind: Pod")).toContain(
        "deploy/k8s/mcp-edge.yaml Deployment/claw-mcp-edge: no PodDisruptionBudget selects its pods",
      );
      expect(
        await broken("deploy/compose/nats.conf", /^(\s*)sync_interval: always$/m, "$1sync_interval: 2m"),
      ).toContain("deploy/compose/nats.conf: no `sync_interval: always` in its jetstream block");
      expect(await broken("deploy/k8s/nats-values.yaml", "tag: 2.14.2-alpine", "tag: 2.10.22-alpine")).toContain(
        "deploy/k8s/nats-values.yaml: nats image tag older than 2.10.23",
      );
      expect(await broken(".dockerignore", "!services/", "!services/cli/")).toContain(
        "Dockerfile: COPY services: .dockerignore leaves it out",
      );
    });
  });
});
