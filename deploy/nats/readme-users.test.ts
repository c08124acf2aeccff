/**
 * The users table of deploy/nats/README.md against services/bus/permissions.ts, the model it describes: each
 * user's row names every bucket it may write (and, for codex-leases, which keys), every subject family it may
 * publish or subscribe, and every guarded bucket it may not read. Pure (no server: permissions.test.ts proves the
 * grants themselves on a real nats-server).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { BUS_PERMISSIONS, KV_BUCKET_NAMES } from "../../services/bus/index.js";

const README = readFileSync(path.join(import.meta.dirname, "README.md"), "utf8");

/** The table's row of `user`, as its cells. */
function rowOf(user: string): string[] {
  const line = README.split("\n").find((l) => l.startsWith(`| \`${user}\` |`));
  if (!line) throw new Error(`README.md has no users-table row for ${user}`);
  return line.split(" | ").map((c) => c.trim());
}

describe("deploy/nats/README.md users table", () => {
  for (const [user, p] of Object.entries(BUS_PERMISSIONS)) {
    it(`${user}: names what permissions.ts grants and refuses`, () => {
      const [, , publishes, subscribes, kv] = rowOf(user) as [string, string, string, string, string];
      for (const subject of p.publishAllow) {
        const m = /^\$KV\.([^.]+)\.(.+)$/.exec(subject);
        if (m) {
          expect(kv, `${user} writes ${m[1]}`).toContain(`\`${m[1]}\``);
          if (m[2] !== ">") expect(kv, `${user} writes ${m[1]} keys ${m[2]}`).toContain(`\`${m[2]}\``);
        } else if (subject.startsWith("codex.")) expect(publishes, `${user} publishes ${subject}`).toContain(subject);
      }
      for (const subject of p.subscribeAllow)
        if (subject.startsWith("codex.")) expect(subscribes, `${user} subscribes ${subject}`).toContain(subject);
      // Buckets whose reads the user is refused (a direct get on them is in its deny list).
      for (const bucket of Object.values(KV_BUCKET_NAMES))
        if (p.publishDeny.includes(`$JS.API.DIRECT.GET.KV_${bucket}`))
          expect(kv, `${user} may not read ${bucket}`).toMatch(new RegExp(`may not read [^|]*\`${bucket}\``));
    });
  }
});
