/**
 * Secret redaction applied to every payload before it leaves the host, and again at every output edge (audit, command results). Pure: no I/O, no mutation.
 *
 * What it catches, in any string anywhere in a value (object keys are kept):
 * - API keys by shape: OpenAI/Anthropic `sk-...`, GitHub `ghp_/gho_/ghu_/ghs_/ghr_...` and `github_pat_...`,
 *   Slack `xoxa-/xoxb-/xoxp-/xoxo-/xoxr-/xoxs-...`, AWS access key ids `AKIA.../ASIA...`, Google `AIza...`,
 *   Stripe `sk_live_/rk_test_...`, npm `npm_...`, JSON Web Tokens `eyJ....eyJ....sig`;
 * - `Bearer <token>` and `Authorization: Basic <token>` credentials (the scheme words are kept);
 * - PEM private keys (`-----BEGIN ... PRIVATE KEY-----` to its END line, or to the end of a cut-off string);
 * - `name=value` / `name: value` / `"name": "value"` pairs whose name ends in password, passwd, pwd, secret,
 *   token, api key, access key, private key, credential(s) or auth (e.g. `DB_PASSWORD=...`,
 *   `aws_secret_access_key = ...`, `"apiKey": "..."`): the name is kept, the value replaced;
 * - passwords in URLs (`scheme://user:password@host`): the user is kept;
 * - string values of object properties with such names (`{ "token": "..." }`), whatever the value looks like.
 * Each secret becomes `[REDACTED:<kind>]`. It does not catch secrets with no recognisable shape or name.
 */

/** Placeholder text for a redacted secret of `kind`. */
export function redactionMarker(kind: string): string {
  return `[REDACTED:${kind}]`;
}

interface Rule {
  kind: string;
  pattern: RegExp;
  /** Builds the replacement from the match groups; default: the whole match becomes the marker. */
  replace?: (match: string, ...groups: string[]) => string;
}

const SECRET_NAME =
  "[A-Za-z0-9_.-]*?(?:pass(?:word|wd)|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|auth)";

const rules: Rule[] = [
  {
    kind: "private-key",
    pattern: /-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g,
  },
  { kind: "jwt", pattern: /\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}/g },
  { kind: "api-key", pattern: /\bsk-[A-Za-z0-9_-]{16,}/g },
  { kind: "github-token", pattern: /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})/g },
  { kind: "slack-token", pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g },
  { kind: "aws-access-key", pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g },
  { kind: "google-api-key", pattern: /\bAIza[0-9A-Za-z_-]{35}/g },
  { kind: "stripe-key", pattern: /\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}/g },
  { kind: "npm-token", pattern: /\bnpm_[A-Za-z0-9]{36}\b/g },
  // The supervisor's own: a dashboard operator token and a host token (services/clients/operator-auth.ts,
  // services/rpc-gateway/host-token.ts), so one pasted into a session never reaches a viewer or the audit trail.
  { kind: "claw-token", pattern: /\bcs[ot]_[0-9a-f]{16}_[A-Za-z0-9_-]{43}/g },
  {
    kind: "bearer",
    pattern: /\b(Bearer\s+|[Aa]uthorization:\s*Basic\s+)[A-Za-z0-9._~+/=-]{8,}/g,
    replace: (_m, scheme) => `${scheme}${redactionMarker("bearer")}`,
  },
  {
    kind: "url-password",
    pattern: /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]+):[^\s@/]+@/gi,
    replace: (_m, prefix) => `${prefix}:${redactionMarker("url-password")}@`,
  },
  {
    kind: "secret-pair",
    // name, optional closing quote, separator, then a quoted or bare value; values already redacted are skipped.
    pattern: new RegExp(
      String.raw`\b(${SECRET_NAME})(["']?\s*[:=]\s*)("[^"\n]*"|'[^'\n]*'|(?!\[REDACTED:)[^\s,;&"'}\]]+)`,
      "gi",
    ),
    replace: (match, name, separator, value) => {
      const bare = value.replace(/^["']|["']$/g, "");
      if (bare.length === 0 || bare.startsWith("[REDACTED:") || /^(?:null|true|false|undefined)$/i.test(bare))
        return match;
      const quote = /^["']/.test(value) ? value[0] : "";
      return `${name}${separator}${quote}${redactionMarker("secret")}${quote}`;
    },
  },
];

const SECRET_KEY =
  /(?:pass(?:word|wd)|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?)$/i;
const QUICK_CHECK =
  /sk-|cs[ot]_|gh[pousr]_|github_pat_|xox|AKIA|ASIA|AIza|_live_|_test_|npm_|eyJ|Bearer|Basic|PRIVATE KEY|:\/\/|pass|pwd|secret|token|key|credential|auth/i;

/** Redacts the secrets `redact` knows in one string (see the module comment). Pure. */
export function redactString(text: string): string {
  if (!QUICK_CHECK.test(text)) return text;
  let out = text;
  for (const rule of rules) {
    out = out.replace(rule.pattern, (match: string, ...args: unknown[]) => {
      if (!rule.replace) return redactionMarker(rule.kind);
      const groups = args.slice(0, -2).map((g) => (typeof g === "string" ? g : ""));
      return rule.replace(match, ...groups);
    });
  }
  return out;
}

/** True when an object property of this name holds a secret whatever its value looks like. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** A deep copy of `value` with every secret in its strings redacted; numbers, booleans and null pass through. Pure. */
export function redact<T>(value: T): T {
  return redactValue(value, 0) as T;
}

const MAX_DEPTH = 64;

function redactValue(value: unknown, depth: number): unknown {
  if (typeof value === "string") return redactString(value);
  if (value === null || typeof value !== "object") return value;
  if (depth >= MAX_DEPTH) return redactionMarker("too-deep");
  if (Array.isArray(value)) return value.map((v) => redactValue(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    out[key] =
      typeof v === "string" && v.length > 0 && isSecretKey(key) ? redactionMarker("secret") : redactValue(v, depth + 1);
  }
  return out;
}
