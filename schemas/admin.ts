/**
 * Operator requests on `codex.admin.<area>.<op>` (request/reply, served by the policy service in its queue
 * group): changes to the supervisor itself, made through the service so that operator credentials need no write
 * access to its buckets, and so that every change is audited with the operator who asked. Each request carries
 * its caller; each gets exactly one reply, a success of its op's shape or a `CommandFailure` (an `invalid` one
 * names every bad field).
 */
import { z } from "zod";
import { Caller, CommandFailure } from "./commands.js";
import { PolicyInForce, PolicyRefusal } from "./policy-history.js";

/** Who asks: an operator, by id (the CLI's `--caller`, default `$USER@host`). */
export const AdminCaller = z.strictObject({ role: z.literal("operator"), id: Caller.shape.id });
export type AdminCaller = z.infer<typeof AdminCaller>;

/** Fields every operator request has. */
export const adminRequestFields = {
  caller: AdminCaller,
  /** Ties the request's audit records together (the CLI sends a fresh UUID); the service makes one up when absent. */
  requestId: z.string().min(8).max(200).optional(),
};

/** `codex.admin.policy.get`: the document in force and a newer refused one. */
export const PolicyGetRequest = z.strictObject(adminRequestFields);
export type PolicyGetRequest = z.infer<typeof PolicyGetRequest>;

/**
 * `codex.admin.policy.set`: store `document` as the active policy. The document is checked by the service against
 * the policy schema after the envelope, so that a refused document is audited with its caller.
 */
export const PolicySetRequest = z.strictObject({ ...adminRequestFields, document: z.unknown() });
export type PolicySetRequest = z.infer<typeof PolicySetRequest>;

/** What `policy.get` answers. */
export const PolicyGetResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), inForce: PolicyInForce, refused: PolicyRefusal.optional() }),
  CommandFailure,
]);
export type PolicyGetResult = z.infer<typeof PolicyGetResult>;

/** What `policy.set` answers: the KV revision the document was stored at. */
export const PolicySetResult = z.discriminatedUnion("ok", [
  z.strictObject({ ok: z.literal(true), revision: z.number().int().positive() }),
  CommandFailure,
]);
export type PolicySetResult = z.infer<typeof PolicySetResult>;

/**
 * KV `codex-policy` key that says who stored the next `active` document through `policy.set`: written just before
 * the document, naming the caller and the document's digest, so every policy instance can attribute the change
 * it sees. A document with no such record before it was written straight into the bucket.
 */
export const POLICY_WRITER_KEY = "active-writer";

/** The record at {@link POLICY_WRITER_KEY}. `digest` is the SHA-256 (hex) of the document text stored. */
export const PolicyWriterRecord = z.strictObject({
  caller: AdminCaller,
  requestId: z.string().min(1),
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  atMs: z.number().int().nonnegative(),
});
export type PolicyWriterRecord = z.infer<typeof PolicyWriterRecord>;
