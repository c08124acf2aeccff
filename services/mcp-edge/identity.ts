/**
 * Which session a token calls as. A session token names it directly; a spawn ticket names the spawn command,
 * whose result (the new thread id) the policy service stores in the command ledger (KV `codex-commands`, key =
 * the command id): the edge reads it there, waiting while the spawn is still running.
 */
import type { NatsConnection } from "@nats-io/transport-node";
import { z } from "zod";
import { CommandResult } from "../../schemas/commands.js";
import { KV_BUCKET_NAMES, openKvBucket, type KvBucket } from "../bus/index.js";
import { verifyToken } from "./tokens.js";

/** The part of a ledger entry the edge reads: a finished spawn and its result. */
const FinishedSpawn = z.object({ state: z.literal("done"), result: CommandResult });
const SpawnData = z.object({ sessionId: z.string().min(1) });

/** Why a token was refused: `unauthorized` (bad token) or `unresolved` (a ticket whose spawn is unknown or failed). */
export type IdentityResult =
  | { ok: true; sessionId: string }
  | { ok: false; reason: "unauthorized" | "unresolved"; message: string };

/** Resolves tokens to sessions with the edge's secret. */
export class EdgeIdentity {
  private kv: Promise<KvBucket> | undefined;
  private readonly tickets = new Map<string, string>();

  constructor(
    private readonly nc: NatsConnection,
    private readonly secret: string,
    /** How long to wait for a running spawn's result, ms. */
    private readonly ticketWaitMs = 20_000,
  ) {}

  /** The session `token` calls as; never throws. */
  async resolve(token: string): Promise<IdentityResult> {
    const subject = verifyToken(this.secret, token);
    if (!subject)
      return { ok: false, reason: "unauthorized", message: "the token is not a valid MCP token of this supervisor" };
    if (subject.kind === "session") return { ok: true, sessionId: subject.sessionId };
    const known = this.tickets.get(subject.ticket);
    if (known) return { ok: true, sessionId: known };
    const deadline = Date.now() + this.ticketWaitMs;
    for (;;) {
      const found = await this.lookup(subject.ticket).catch(() => undefined);
      if (typeof found === "string") {
        this.tickets.set(subject.ticket, found);
        return { ok: true, sessionId: found };
      }
      if (found === null || Date.now() > deadline) {
        return {
          ok: false,
          reason: "unresolved",
          message: `the spawn this token was minted for (${subject.ticket}) did not start a session; ask for a new token with 'claw-supervisor mcp-config <sessionId>'`,
        };
      }
      await new Promise((r) => setTimeout(r, 150));
    }
  }

  /** The spawned session's id; null when the spawn failed or is unknown; undefined while it runs. */
  private async lookup(ticket: string): Promise<string | null | undefined> {
    this.kv ??= openKvBucket(this.nc, KV_BUCKET_NAMES.commands);
    const entry = await (await this.kv).get(ticket);
    if (entry?.operation !== "PUT") return undefined;
    const done = FinishedSpawn.safeParse(entry.json());
    if (!done.success) return undefined;
    if (!done.data.result.ok) return null;
    const data = SpawnData.safeParse(done.data.result.data);
    return data.success ? data.data.sessionId : null;
  }
}
