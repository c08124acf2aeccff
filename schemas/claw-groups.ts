/**
 * Claw groups (issue 18): which Claws own which sessions, as the `clawGroups` section of the policy document
 * (KV `codex-policy`, validated by the policy service like the rest of it). Each group names its Claws (by
 * `clawId`), the sessions it owns (selectors on the registry record: the session's group label, its host, its
 * repo) and its parent group; a root group (`parent: null`) escalates to people (`claw-supervisor attention`).
 *
 * Ownership itself lives in KV `codex-leases`: `claw.<clawId>` says a Claw is live, `claw-session.<key>` says
 * which Claw owns a session, at which epoch (services/bus/lease.ts, services/clients/claw-ownership.ts).
 */
import { z } from "zod";

/** A Claw's id as the plugin's `clawId` config gives it (also a KV key token). */
export const ClawId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "a clawId is 1-64 letters, digits, '-' or '_'");
export type ClawId = z.infer<typeof ClawId>;

/** A group's name. */
export const ClawGroupName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, "a group name is 1-63 lower-case letters, digits, '-' or '_'");

/** Which sessions a group owns: every given field must match the session's record; `{}` is every session. */
export const OwnershipSelector = z.strictObject({
  /** The session's group label (`assign --group`). */
  group: z.string().min(1).max(200).optional(),
  host: z.string().min(1).max(200).optional(),
  repo: z.string().min(1).max(500).optional(),
});
export type OwnershipSelector = z.infer<typeof OwnershipSelector>;

export const ClawGroup = z.strictObject({
  name: ClawGroupName,
  /** The Claws of the group; its sessions are spread over those that are live. */
  claws: z.array(ClawId).max(100).default([]),
  /** The sessions it owns (any selector matching); a session no group's selector matches belongs to no group. */
  owns: z.array(OwnershipSelector).max(100).default([]),
  /** The group escalations go to; null: people (the root). */
  parent: ClawGroupName.nullable(),
});
export type ClawGroup = z.infer<typeof ClawGroup>;

/** Lease timing bounds, ms: the TTL stays under `codex-leases`' max age (services/bus/lease.ts MAX_LEASE_TTL_MS). */
export const CLAW_LEASE_TTL_MIN_MS = 1_000;
export const CLAW_LEASE_TTL_MAX_MS = 25_000;

export const ClawGroups = z
  .strictObject({
    groups: z.array(ClawGroup).min(1).max(100),
    /** A session lease (and a Claw's liveness) lapses this long after its holder's last renewal. */
    leaseTtlMs: z.number().int().min(CLAW_LEASE_TTL_MIN_MS).max(CLAW_LEASE_TTL_MAX_MS).default(15_000),
    /** An ask or held approval unanswered this long after it was made escalates to the owner's parent group. */
    escalateAfterMs: z.number().int().min(1_000).max(86_400_000).default(600_000),
  })
  .superRefine((doc, ctx) => {
    const names = new Map<string, number>();
    doc.groups.forEach((g, i) => {
      if (names.has(g.name))
        ctx.addIssue({ code: "custom", path: ["groups", i, "name"], message: `group ${g.name} is named twice` });
      names.set(g.name, i);
    });
    const clawGroup = new Map<string, string>();
    doc.groups.forEach((g, i) => {
      if (g.parent !== null && !names.has(g.parent))
        ctx.addIssue({
          code: "custom",
          path: ["groups", i, "parent"],
          message: `group ${g.name}'s parent ${g.parent} is not a group (null makes it a root, which escalates to people)`,
        });
      if (g.parent === g.name)
        ctx.addIssue({ code: "custom", path: ["groups", i, "parent"], message: `group ${g.name} is its own parent` });
      for (const c of g.claws) {
        const other = clawGroup.get(c);
        if (other !== undefined)
          ctx.addIssue({
            code: "custom",
            path: ["groups", i, "claws"],
            message: `claw ${c} is in two groups (${other} and ${g.name}); a Claw belongs to one group`,
          });
        clawGroup.set(c, g.name);
      }
    });
    // Every chain of parents must end at a root: no cycle.
    const byName = new Map(doc.groups.map((g) => [g.name, g]));
    for (const g of doc.groups) {
      const seen = new Set<string>();
      let at: ClawGroup | undefined = g;
      while (at && at.parent !== null) {
        if (seen.has(at.name)) {
          ctx.addIssue({
            code: "custom",
            path: ["groups"],
            message: `the parents of group ${g.name} go round in a cycle (${[...seen].join(" -> ")}); one group must have parent null`,
          });
          break;
        }
        seen.add(at.name);
        at = byName.get(at.parent);
      }
    }
  });
export type ClawGroups = z.infer<typeof ClawGroups>;
export type ClawGroupsInput = z.input<typeof ClawGroups>;

/** A command made under a session lease carries its epoch: the policy refuses an old one. */
export const LeaseClaim = z.strictObject({ epoch: z.number().int().positive() });
export type LeaseClaim = z.infer<typeof LeaseClaim>;

/** One Claw as `claws` reports it. */
export const ClawState = z.object({
  clawId: z.string(),
  group: z.string().nullable(),
  /** Its liveness lease is held and renewed. */
  live: z.boolean(),
  /** Time since its liveness lease was last renewed, ms; null when it has none. */
  seenAgoMs: z.number().int().nonnegative().nullable(),
  sessions: z.number().int().nonnegative(),
});
export type ClawState = z.infer<typeof ClawState>;

/** One owned session as `claws` reports it. */
export const SessionOwnership = z.object({
  sessionId: z.string(),
  clawId: z.string(),
  epoch: z.number().int().positive(),
  /** Time since the lease was taken, and since it was last renewed, ms. */
  heldForMs: z.number().int().nonnegative(),
  renewedAgoMs: z.number().int().nonnegative(),
  /** The group the session belongs to by the selectors (null: none), and whether its owner is of that group. */
  group: z.string().nullable(),
  /** Set when the lease moved by escalation (`accept`): the group that escalated it. */
  escalatedFrom: z.string().nullable().default(null),
});
export type SessionOwnership = z.infer<typeof SessionOwnership>;

/** What the `claws` verb answers (`fleet_claws`, `claw-supervisor claws`). */
export const ClawsResult = z.object({
  /** False when the policy has no `clawGroups`: every Claw sees and may drive every session (one Claw). */
  configured: z.boolean(),
  leaseTtlMs: z.number().int().positive().nullable(),
  /** When an unanswered ask, approval or escalation escalates on its own, ms (null: not configured; older policies omit it). */
  escalateAfterMs: z.number().int().positive().nullable().default(null),
  groups: z.array(
    z.object({
      name: z.string(),
      parent: z.string().nullable(),
      owns: z.array(OwnershipSelector),
      claws: z.array(z.string()),
    }),
  ),
  claws: z.array(ClawState),
  sessions: z.array(SessionOwnership),
});
export type ClawsResult = z.infer<typeof ClawsResult>;
