/**
 * Dashboard sign-in on the bus, from a `client` connection: a presented operator token (`cso_<id>_<secret>`,
 * minted by `claw-supervisor operator add`) is checked by the policy service on `codex.auth.operator.signin`,
 * which gets only the token id and the SHA-256 of the whole token, never the secret; `codex.auth.operator.status`
 * says whether a signed-in token is still active. Nothing here throws.
 */
import { createHash, randomBytes } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  OPERATOR_TOKEN_PATTERN,
  OPERATOR_TOKEN_PREFIX,
  type OperatorRole,
  OperatorSigninResult,
  OperatorStatusResult,
} from "../../schemas/admin-operators.js";
import { subjects } from "../bus/index.js";
import { askPolicyService } from "./command-request.js";

const DEFAULT_TIMEOUT_MS = 5_000;

/** SHA-256 of a whole operator token, lowercase hex. Pure. */
export function hashOperatorToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/**
 * Mints an operator token `cso_<tokenId>_<secret>` (8 random bytes of id, 32 of secret): the token, shown once,
 * and what the policy service stores (its id and SHA-256). `random` is injectable for tests.
 */
export function mintOperatorToken(random: (size: number) => Buffer = randomBytes): {
  token: string;
  tokenId: string;
  sha256: string;
} {
  const tokenId = random(8).toString("hex");
  const token = `${OPERATOR_TOKEN_PREFIX}${tokenId}_${random(32).toString("base64url")}`;
  return { token, tokenId, sha256: hashOperatorToken(token) };
}

/** The token id and hash of a well-formed operator token (surrounding whitespace ignored), or null. Pure. */
export function parseOperatorToken(text: string): { tokenId: string; sha256: string } | null {
  const token = typeof text === "string" ? text.trim() : "";
  const match = OPERATOR_TOKEN_PATTERN.exec(token);
  if (!match) return null;
  return { tokenId: match[1] as string, sha256: hashOperatorToken(token) };
}

/** Who a token signs in as, or why not. */
export type OperatorVerification =
  | { ok: true; name: string; role: OperatorRole; tokenId: string }
  | { ok: false; code: "denied" | "invalid" | "unavailable"; message: string };

/** Why the policy service gave no answer, in a line for an operator. */
function unavailableMessage(reason: string): string {
  switch (reason) {
    case "no_policy":
      return "no policy service answers sign-in checks (codex.auth.operator.*): is 'claw-supervisor up' running?";
    case "timeout":
      return "the policy service did not answer the sign-in check in time";
    case "unreachable":
      return "the bus refused the sign-in check";
    default:
      return "the policy service's answer to the sign-in check is not one";
  }
}

/**
 * Checks `token` with the policy service: `invalid` when it is not an operator token at all (nothing is sent),
 * `denied` when it is unknown, revoked or wrong (the service does not say which), `unavailable` when no answer came.
 */
export async function verifyOperatorToken(
  nc: NatsConnection,
  token: string,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<OperatorVerification> {
  const parsed = parseOperatorToken(token);
  if (!parsed)
    return { ok: false, code: "invalid", message: "not an operator token (cso_<id>_<secret>, from 'operator add')" };
  const answer = await askPolicyService(
    nc,
    subjects.auth("operator", "signin"),
    JSON.stringify({ tokenId: parsed.tokenId, sha256: parsed.sha256 }),
    timeoutMs,
  );
  if (!answer.ok) return { ok: false, code: "unavailable", message: unavailableMessage(answer.reason) };
  const reply = OperatorSigninResult.safeParse(answer.data);
  if (!reply.success) return { ok: false, code: "unavailable", message: unavailableMessage("bad_reply") };
  const r = reply.data;
  if (r.ok) return { ok: true, name: r.name, role: r.role, tokenId: r.tokenId };
  if (r.code === "denied" || r.code === "invalid") return { ok: false, code: r.code, message: r.message };
  return { ok: false, code: "unavailable", message: r.message };
}

/** Whether a token is still active, or why that is not known. */
export type OperatorTokenStatus =
  | { ok: true; active: boolean; name: string; role: OperatorRole }
  | { ok: false; code: "unavailable"; message: string };

/**
 * Whether the token `tokenId` is still active (not revoked). A token id the store does not know (its record is
 * gone) is `{ ok: true, active: false, name: "", role: "viewer" }`: inactive, like a revoked one.
 */
export async function operatorTokenStatus(
  nc: NatsConnection,
  tokenId: string,
  timeoutMs: number = DEFAULT_TIMEOUT_MS,
): Promise<OperatorTokenStatus> {
  if (!/^[0-9a-f]{16}$/.test(tokenId)) return { ok: true, active: false, name: "", role: "viewer" };
  const answer = await askPolicyService(
    nc,
    subjects.auth("operator", "status"),
    JSON.stringify({ tokenId }),
    timeoutMs,
  );
  if (!answer.ok) return { ok: false, code: "unavailable", message: unavailableMessage(answer.reason) };
  const reply = OperatorStatusResult.safeParse(answer.data);
  if (!reply.success) return { ok: false, code: "unavailable", message: unavailableMessage("bad_reply") };
  const r = reply.data;
  if (r.ok) return { ok: true, active: r.active, name: r.name, role: r.role };
  if (r.code === "not_found") return { ok: true, active: false, name: "", role: "viewer" };
  return { ok: false, code: "unavailable", message: r.message };
}
