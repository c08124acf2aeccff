/**
 * Conformance of our Codex schemas with the JSON schema a codex binary generates
 * (`codex app-server generate-json-schema`). Pure: takes the parsed bundle
 * `codex_app_server_protocol.schemas.json` and returns every drift, each naming where it is and what is wrong.
 *
 * Every field declared in our zod schemas is one we rely on. Direction matters:
 * - "in" (results, notifications, server requests): codex must promise each field we require, with a
 *   compatible type, and must not send values our enums reject.
 * - "out" (params, replies): each field we send must exist in codex's schema, and we must send every field
 *   codex requires.
 */
import { z } from "zod";
import { clientMethods } from "./methods.js";
import { notifications } from "./notifications.js";
import { serverRequests } from "./server-requests.js";

/** One difference between our schemas and the generated ones. */
export interface Drift {
  /** Where: the method or notification, then the field path. */
  path: string;
  problem: string;
}

type Json = Record<string, unknown>;
type Direction = "in" | "out";
const ANY: Json = {};

interface Alternatives {
  branches: Json[];
  nullable: boolean;
}

class GeneratedSchema {
  private readonly top: Record<string, Json>;
  private readonly v2: Record<string, Json>;

  constructor(bundle: Json) {
    const defs = (bundle.definitions ?? {}) as Record<string, Json>;
    this.v2 = (defs.v2 ?? {}) as Record<string, Json>;
    this.top = defs;
  }

  lookup(name: string): Json | undefined {
    return this.v2[name] ?? (name === "v2" ? undefined : this.top[name]);
  }

  resolve(ref: string): Json | undefined {
    const m = /^#\/definitions\/(?:(v2)\/)?([^/]+)$/.exec(ref);
    if (!m) return undefined;
    return m[1] ? this.v2[m[2]!] : this.top[m[2]!];
  }

  /** Methods of a `oneOf` union of requests or notifications, mapped to their params schema. */
  methodParams(unionName: string): Map<string, Json> {
    const out = new Map<string, Json>();
    for (const variant of (this.lookup(unionName)?.oneOf ?? []) as Json[]) {
      const props = (variant.properties ?? {}) as Record<string, Json>;
      const name = (props.method?.enum as string[] | undefined)?.[0];
      if (name) out.set(name, props.params ?? ANY);
    }
    return out;
  }
}

const isAny = (s: Json): boolean =>
  !("type" in s) &&
  !("enum" in s) &&
  !("const" in s) &&
  !("properties" in s) &&
  !("anyOf" in s) &&
  !("oneOf" in s) &&
  !("$ref" in s) &&
  !("allOf" in s) &&
  !("items" in s);

function alternatives(schema: unknown, gen: GeneratedSchema | null): Alternatives {
  if (schema === true || schema === undefined) return { branches: [ANY], nullable: true };
  const s = schema as Json;
  if (typeof s.$ref === "string" && gen) {
    const target = gen.resolve(s.$ref);
    return target ? alternatives({ ...s, ...target, $ref: undefined }, gen) : { branches: [ANY], nullable: true };
  }
  if (Array.isArray(s.allOf) && s.allOf.length === 1) {
    const { allOf, ...rest } = s;
    return alternatives({ ...rest, ...(allOf[0] as Json) }, gen);
  }
  delete s.$ref;
  const union = (s.anyOf ?? s.oneOf) as Json[] | undefined;
  if (union) {
    const { anyOf: _a, oneOf: _o, ...shared } = s;
    const out: Alternatives = { branches: [], nullable: false };
    for (const member of union) {
      const merged = shared.properties ? mergeObject(shared, member) : member;
      const sub = alternatives(merged, gen);
      out.branches.push(...sub.branches);
      out.nullable ||= sub.nullable;
    }
    return out;
  }
  if (Array.isArray(s.type)) {
    const types = s.type as string[];
    const branches = types.filter((t) => t !== "null").map((t) => ({ ...s, type: t }));
    return { branches, nullable: types.includes("null") };
  }
  if (s.type === "null") return { branches: [], nullable: true };
  if (isAny(s)) return { branches: [ANY], nullable: true };
  return { branches: [s], nullable: false };
}

function mergeObject(shared: Json, member: Json): Json {
  return {
    ...shared,
    ...member,
    properties: { ...(shared.properties as Json), ...(member.properties as Json) },
    required: [...((shared.required as string[]) ?? []), ...((member.required as string[]) ?? [])],
  };
}

function kind(s: Json): string {
  if (s.type === "object" || s.properties || s.additionalProperties) return "object";
  if (s.type === "integer" || s.type === "number") return "number";
  if (s.type) return String(s.type);
  if (s.enum || "const" in s) return "string";
  return "any";
}

/** The literal values a string schema allows, or null when it allows any string. */
function literals(s: Json): unknown[] | null {
  if ("const" in s) return [s.const];
  if (Array.isArray(s.enum)) return s.enum;
  return null;
}

function constOf(s: Json, key: string): unknown {
  const prop = (s.properties as Record<string, Json> | undefined)?.[key];
  return prop ? literals(prop)?.[0] : undefined;
}

function discriminatorKey(s: Json): string | undefined {
  const props = (s.properties ?? {}) as Record<string, Json>;
  return Object.keys(props).find((k) => literals(props[k]!)?.length === 1);
}

class Comparer {
  readonly drifts: Drift[] = [];
  constructor(private readonly gen: GeneratedSchema) {}

  compare(ours: unknown, theirs: unknown, path: string, dir: Direction): void {
    this.drifts.push(...this.diff(ours, theirs, path, dir));
  }

  private diff(ours: unknown, theirs: unknown, path: string, dir: Direction): Drift[] {
    const O = alternatives(ours, null);
    const T = alternatives(theirs, this.gen);
    const drifts: Drift[] = [];
    if (dir === "in" && T.nullable && !O.nullable && !T.branches.some(isAny)) {
      drifts.push({ path, problem: "codex may send null here and our schema rejects it" });
    }
    if (dir === "out" && O.nullable && !T.nullable && !O.branches.some(isAny)) {
      drifts.push({ path, problem: "we may send null here and codex does not accept it" });
    }
    if (O.branches.some(isAny)) return drifts;
    if (T.branches.some(isAny)) {
      if (dir === "in") drifts.push({ path, problem: "codex promises no type here but we rely on one" });
      return drifts;
    }
    if (dir === "in") drifts.push(...this.unmatchedTags(O.branches, T.branches, path));
    for (const ob of O.branches) drifts.push(...this.matchBranch(ob, T.branches, path, dir));
    return drifts;
  }

  /** For "in": every tagged variant codex may send must be one we accept (unless we have a catch-all). */
  private unmatchedTags(ours: Json[], theirs: Json[], path: string): Drift[] {
    const objects = ours.filter((b) => kind(b) === "object");
    const key = objects[0] && discriminatorKey(objects[0]);
    if (!key || objects.length < 2 || objects.some((b) => constOf(b, key) === undefined)) return [];
    const known = new Set(objects.map((b) => constOf(b, key)));
    return theirs
      .map((b) => constOf(b, key))
      .filter((tag) => tag !== undefined && !known.has(tag))
      .map((tag) => ({ path, problem: `codex may send ${key} "${String(tag)}", which our schema rejects` }));
  }

  private matchBranch(ob: Json, theirs: Json[], path: string, dir: Direction): Drift[] {
    const k = kind(ob);
    let candidates = theirs.filter((t) => kind(t) === k);
    if (candidates.length === 0) {
      const had = [...new Set(theirs.map(kind))].join(" | ");
      return [{ path, problem: `type changed: we expect ${k}, codex has ${had}` }];
    }
    if (k === "string" || k === "boolean") return this.literalDrifts(ob, candidates, path, dir);
    if (k === "number") {
      const lossy = dir === "in" && ob.type === "integer" && candidates.every((c) => c.type === "number");
      return lossy ? [{ path, problem: "codex may send a fractional number where we expect an integer" }] : [];
    }
    const key = k === "object" ? discriminatorKey(ob) : undefined;
    if (key) {
      const tag = constOf(ob, key);
      const tagged = candidates.filter((c) => constOf(c, key) === tag);
      if (tagged.length === 0 && candidates.every((c) => constOf(c, key) !== undefined)) {
        return [{ path, problem: `codex has no variant with ${key} "${String(tag)}"` }];
      }
      if (tagged.length > 0) candidates = tagged;
    }
    let best: Drift[] | undefined;
    for (const c of candidates) {
      const d = k === "array" ? this.diff(ob.items, c.items, `${path}[]`, dir) : this.objectDrifts(ob, c, path, dir);
      if (d.length === 0) return [];
      if (!best || d.length < best.length) best = d;
    }
    return best ?? [];
  }

  private literalDrifts(ob: Json, candidates: Json[], path: string, dir: Direction): Drift[] {
    const ourValues = literals(ob);
    const theirLists = candidates.map(literals);
    const theirsOpen = theirLists.some((l) => l === null);
    const theirValues = new Set(theirLists.flatMap((l) => l ?? []));
    const drifts: Drift[] = [];
    if (ourValues && !theirsOpen) {
      for (const v of ourValues.filter((v) => !theirValues.has(v))) {
        drifts.push({ path, problem: `value "${String(v)}" is not in codex's enum [${[...theirValues].join(", ")}]` });
      }
    }
    if (dir === "in" && ourValues) {
      const extra = theirsOpen ? ["any string"] : [...theirValues].filter((v) => !ourValues.includes(v));
      for (const v of extra)
        drifts.push({ path, problem: `codex may send ${JSON.stringify(v)}, which our enum rejects` });
    }
    return drifts;
  }

  private objectDrifts(ob: Json, tb: Json, path: string, dir: Direction): Drift[] {
    const drifts: Drift[] = [];
    const ourProps = (ob.properties ?? {}) as Record<string, Json>;
    const theirProps = (tb.properties ?? {}) as Record<string, Json>;
    const ourRequired = new Set((ob.required as string[] | undefined) ?? []);
    const theirRequired = new Set((tb.required as string[] | undefined) ?? []);
    for (const [name, schema] of Object.entries(ourProps)) {
      const at = `${path}.${name}`;
      if (!(name in theirProps)) {
        drifts.push({ path: at, problem: "field is missing from codex's schema" });
        continue;
      }
      if (dir === "in" && ourRequired.has(name) && !theirRequired.has(name)) {
        drifts.push({ path: at, problem: "codex marks this field optional and our schema requires it" });
      }
      drifts.push(...this.diff(schema, theirProps[name], at, dir));
    }
    if (dir === "out") {
      for (const name of theirRequired) {
        if (!ourRequired.has(name))
          drifts.push({ path: `${path}.${name}`, problem: "codex requires this field and we may omit it" });
      }
    }
    const ourMap = ob.additionalProperties;
    if (ourMap && typeof ourMap === "object" && !isAny(ourMap as Json) && Object.keys(ourProps).length === 0) {
      drifts.push(...this.diff(ourMap, tb.additionalProperties, `${path}{}`, dir));
    }
    return drifts;
  }
}

const jsonSchemaOf = (schema: z.ZodType, dir: Direction): Json =>
  z.toJSONSchema(schema, { io: dir === "in" ? "output" : "input", unrepresentable: "any" }) as Json;

/** Compares every method, notification and server request we rely on with the generated bundle. */
export function checkConformance(bundle: Json): Drift[] {
  const gen = new GeneratedSchema(bundle);
  const cmp = new Comparer(gen);
  const requests = gen.methodParams("ClientRequest");
  for (const [name, spec] of Object.entries(clientMethods)) {
    const params = requests.get(name);
    if (!params) {
      cmp.drifts.push({ path: name, problem: "method is not in codex's ClientRequest union" });
      continue;
    }
    cmp.compare(jsonSchemaOf(spec.params, "out"), params, `${name} params`, "out");
    const result = gen.lookup(spec.generated.result);
    if (!result) cmp.drifts.push({ path: `${name} result`, problem: `definition ${spec.generated.result} is missing` });
    else cmp.compare(jsonSchemaOf(spec.result, "in"), result, `${name} result`, "in");
  }
  const notes = gen.methodParams("ServerNotification");
  for (const [name, spec] of Object.entries(notifications)) {
    const params = notes.get(name);
    if (!params) cmp.drifts.push({ path: name, problem: "notification is not in codex's ServerNotification union" });
    else cmp.compare(jsonSchemaOf(spec.params, "in"), params, `${name} params`, "in");
  }
  const serverReqs = gen.methodParams("ServerRequest");
  for (const [name, spec] of Object.entries(serverRequests)) {
    const params = serverReqs.get(name);
    if (!params) {
      cmp.drifts.push({ path: name, problem: "server request is not in codex's ServerRequest union" });
      continue;
    }
    cmp.compare(jsonSchemaOf(spec.params, "in"), params, `${name} params`, "in");
    const reply = gen.lookup(spec.generated.reply);
    if (!reply) cmp.drifts.push({ path: `${name} reply`, problem: `definition ${spec.generated.reply} is missing` });
    else cmp.compare(jsonSchemaOf(spec.reply, "out"), reply, `${name} reply`, "out");
  }
  return cmp.drifts;
}

/** Formats drifts one per line, for a test failure or a CLI report. */
export function formatDrifts(drifts: readonly Drift[]): string {
  return drifts.map((d) => `- ${d.path}: ${d.problem}`).join("\n");
}
