/**
 * Which session a token calls as, and whether it still may. In order:
 * - the token must be one of this edge's (version 2, mac under the edge secret); a `cmt1` token is refused with
 *   a message saying to get a new one;
 * - a session token must not have expired, and the registry must know its session (positive answers cached
 *   briefly; a registry that does not answer is `unavailable`, never a pass);
 * - a spawn ticket names the spawn command, whose result (the new thread id) the policy service stores in the
 *   command ledger (KV `codex-commands`, key = the command id): the edge reads it there, waiting while the spawn
 *   still runs (or has no entry yet); a ledger that cannot be read is `unavailable` at once, never a wait. Codex cannot be handed a new token mid-thread, so a ticket token past its expiry is still
 *   accepted while the registry shows its session live (known and not stale): renewed while it lives;
 * - no revocation (KV `codex-mcp-revocations`) of the session may be newer than the token; read on every
 *   call, so a revocation takes effect at once.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { CommandResult } from "../../schemas/commands.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { KV_BUCKET_NAMES, openKvBucket, type KvBucket } from "../bus/index.js";
import { querySession } from "../clients/registry-queries.js";
import { RevocationStore } from "./revocations.js";
import { verifyToken, type VerifiedToken } from "./tokens.js";

/** The part of a ledger entry the edge reads: a finished spawn and its result. */
const FinishedSpawn = z.object({ state: z.literal("done"), result: CommandResult });
const SpawnData = z.object({ sessionId: z.string().min(1), hostId: z.string().min(1).optional() });

/**
 * Why a token was refused: `unauthorized` (not a token of this edge, or of the old format), `expired`,
 * `revoked`, `unknown_session` (the registry does not know the session), `unresolved` (a ticket whose spawn is
 * unknown or failed): each an HTTP 401; `unavailable` (the registry, the command ledger or the revocation
 * bucket could not be asked): a 503, try again.
 */
export type IdentityRefusal = "unauthorized" | "expired" | "revoked" | "unknown_session" | "unresolved" | "unavailable";

/** A resolved caller, or why not; `renewed` marks a ticket token accepted past its expiry (its session lives). */
export type IdentityResult =
  | { ok: true; sessionId: string; hostId: string | null; expiresAtMs: number; renewed: boolean }
  | { ok: false; reason: IdentityRefusal; message: string };

/** Options of {@link EdgeIdentity}. */
export interface EdgeIdentityOptions {
  /** How long to wait for a running spawn's result, ms (default 20 s). */
  ticketWaitMs?: number;
  /** How long a registry answer that a session exists is reused, ms (default 10 s); a miss is never cached. */
  sessionCacheMs?: number;
  /** Wait for one registry answer, ms (default 5 s). */
  registryTimeoutMs?: number;
  now?: () => number;
}

const NEW_TOKEN = "get a new one with 'claw-supervisor mcp-config <sessionId>'";
const MAX_CACHED = 10_000;
const iso = (ms: number) => new Date(ms).toISOString();
const refuse = (reason: IdentityRefusal, message: string): IdentityResult => ({ ok: false, reason, message });

/** A bounded map that forgets its oldest entries first. */
class Bounded<V> extends Map<string, V> {
  override set(key: string, value: V): this {
    super.set(key, value);
    if (this.size > MAX_CACHED) this.delete(this.keys().next().value as string);
    return this;
  }
}

type Lookup = { ok: true; record: SessionRecord | null } | { ok: false; message: string };

/** Resolves tokens to sessions with the edge's secret; never throws. */
export class EdgeIdentity {
  private ledger: Promise<KvBucket> | undefined;
  private readonly tickets = new Bounded<{ sessionId: string; hostId: string | null }>();
  private readonly known = new Bounded<{ record: SessionRecord; atMs: number }>();
  private readonly revocations: RevocationStore;
  private readonly now: () => number;

  constructor(
    private readonly nc: NatsConnection,
    private readonly secret: string,
    private readonly opts: EdgeIdentityOptions = {},
  ) {
    this.revocations = new RevocationStore(nc);
    this.now = opts.now ?? Date.now;
  }

  /** The session `token` calls as, or why it may not. */
  async resolve(token: string): Promise<IdentityResult> {
    const checked = verifyToken(this.secret, token);
    if (!checked.ok) return refuse("unauthorized", checked.message);
    const t = checked.token;
    const who = t.subject.kind === "session" ? await this.sessionOf(t) : await this.ticketOf(t);
    if (!who.ok) return who;
    return this.notRevoked(t, who);
  }

  /** A session token: not expired, and its session known to the registry. */
  private async sessionOf(t: VerifiedToken): Promise<IdentityResult> {
    if (t.subject.kind !== "session") throw new Error("unreachable");
    const { sessionId, hostId } = t.subject;
    if (this.now() >= t.expiresAtMs)
      return refuse(
        "expired",
        `this MCP token of session ${sessionId} expired at ${iso(t.expiresAtMs)}: ${NEW_TOKEN.replace("<sessionId>", sessionId)} and put it in the session's config`,
      );
    const found = await this.lookup(sessionId, hostId);
    if (!found.ok) return refuse("unavailable", found.message);
    if (!found.record)
      return refuse(
        "unknown_session",
        `the token names session ${hostId ? `${hostId}/` : ""}${sessionId}, which the registry does not know: tokens work only for sessions the supervisor sees`,
      );
    return { ok: true, sessionId, hostId: found.record.host, expiresAtMs: t.expiresAtMs, renewed: false };
  }

  /** A spawn ticket: the session its spawn started; past its expiry only while that session is live. */
  private async ticketOf(t: VerifiedToken): Promise<IdentityResult> {
    if (t.subject.kind !== "ticket") throw new Error("unreachable");
    const spawned = await this.spawnedBy(t.subject.ticket);
    if (!spawned.ok) return spawned;
    const { sessionId, hostId } = spawned.value;
    if (this.now() < t.expiresAtMs) return { ok: true, sessionId, hostId, expiresAtMs: t.expiresAtMs, renewed: false };
    const found = await this.lookup(sessionId, hostId);
    if (!found.ok) return refuse("unavailable", found.message);
    if (!found.record || found.record.status === "stale")
      return refuse(
        "expired",
        `this spawned session's MCP token expired at ${iso(t.expiresAtMs)} and session ${sessionId} is no longer live (${found.record ? "stale" : "unknown to the registry"}): ${NEW_TOKEN.replace("<sessionId>", sessionId)}`,
      );
    return { ok: true, sessionId, hostId: found.record.host, expiresAtMs: t.expiresAtMs, renewed: true };
  }

  private async notRevoked(t: VerifiedToken, who: Extract<IdentityResult, { ok: true }>): Promise<IdentityResult> {
    let revoked: Awaited<ReturnType<RevocationStore["get"]>>;
    try {
      revoked = await this.revocations.get(who.sessionId);
    } catch (err) {
      return refuse("unavailable", `cannot check MCP token revocations: ${(err as Error).message}`);
    }
    if (revoked && t.issuedAtMs < revoked.revokedAt)
      return refuse(
        "revoked",
        `the MCP tokens of session ${who.sessionId} issued before ${iso(revoked.revokedAt)} were revoked (by ${revoked.by}): ${NEW_TOKEN.replace("<sessionId>", who.sessionId)}`,
      );
    return who;
  }

  /** The registry's record of a session (a known one reused for `sessionCacheMs`), or why it could not say. */
  private async lookup(sessionId: string, hostId: string | null): Promise<Lookup> {
    const key = `${hostId ?? ""}\u0000${sessionId}`;
    const cached = this.known.get(key);
    if (cached && this.now() - cached.atMs < (this.opts.sessionCacheMs ?? 10_000))
      return { ok: true, record: cached.record };
    const answer = await querySession(
      this.nc,
      hostId ? { host: hostId, sessionId } : { sessionId },
      this.opts.registryTimeoutMs,
    );
    if (!answer.ok)
      return { ok: false, message: `cannot ask the registry about the token's session: ${answer.message}` };
    if (answer.value) this.known.set(key, { record: answer.value, atMs: this.now() });
    else this.known.delete(key);
    return { ok: true, record: answer.value };
  }

  /** The session a spawn ticket started, waiting while the spawn runs. */
  private async spawnedBy(
    ticket: string,
  ): Promise<
    { ok: true; value: { sessionId: string; hostId: string | null } } | Extract<IdentityResult, { ok: false }>
  > {
    const known = this.tickets.get(ticket);
    if (known) return { ok: true, value: known };
    const deadline = this.now() + (this.opts.ticketWaitMs ?? 20_000);
    for (;;) {
      let found: { sessionId: string; hostId: string | null } | null | undefined;
      try {
        found = await this.ledgerEntry(ticket);
      } catch (err) {
        // The ledger cannot be read (a bus outage, a missing bucket): a 503 at once, never a 401 after the wait.
        return {
          ok: false,
          reason: "unavailable",
          message: `cannot read the spawn this token was minted for (${ticket}) in KV ${KV_BUCKET_NAMES.commands}: ${(err as Error).message}`,
        };
      }
      if (found) {
        this.tickets.set(ticket, found);
        return { ok: true, value: found };
      }
      if (found === null || this.now() > deadline)
        return {
          ok: false,
          reason: "unresolved",
          message: `the spawn this token was minted for (${ticket}) did not start a session; ${NEW_TOKEN}`,
        };
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /**
   * The spawned session; null when the spawn failed (or its result names no session); undefined while it runs or
   * has no entry yet. Throws when the ledger cannot be read.
   */
  private async ledgerEntry(ticket: string): Promise<{ sessionId: string; hostId: string | null } | null | undefined> {
    this.ledger ??= openKvBucket(this.nc, KV_BUCKET_NAMES.commands).catch((err: unknown) => {
      this.ledger = undefined;
      throw err;
    });
    const entry = await (await this.ledger).get(ticket);
    if (entry?.operation !== "PUT") return undefined;
    let value: unknown;
    try {
      value = entry.json();
    } catch {
      return undefined; // not a ledger entry the edge can read: as if none (the bus itself answered)
    }
    const done = FinishedSpawn.safeParse(value);
    if (!done.success) return undefined;
    if (!done.data.result.ok) return null;
    const data = SpawnData.safeParse(done.data.result.data);
    return data.success ? { sessionId: data.data.sessionId, hostId: data.data.hostId ?? null } : null;
  }
}
