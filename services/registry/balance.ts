/**
 * Spreading partitions over instances. Every instance stands by for every partition (so a takeover never waits
 * for anything but the lease TTL), and the first to ask takes a free one, so one instance started before the
 * others ends up holding them all. Each instance therefore shows itself with a presence key in `codex-leases`
 * (`registry.<P>.m.<token>`, a lease on its own key, renewed like the partition leases) and, every lease TTL,
 * compares what it serves with its fair share, ceil(P / live instances): holding more while a live instance
 * holds less than its share, it hands one partition over (flushed and released, so the other takes it at once)
 * and keeps out of that partition's race for two TTLs. An instance counts as live only once its presence key was
 * seen renewed between two looks, so a dead one never receives a partition. Pure decision here; the shell is
 * registry.ts.
 */
import { fnv1a32 } from "./partition.js";

/** The presence key of `instance` among registries with P partitions (KV key tokens only). Pure. */
export function memberKey(partitions: number, instance: string): string {
  const token = instance.replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 100);
  return `registry.${partitions}.m.${token}-${fnv1a32(instance).toString(36)}`;
}

/** The filter that lists every presence key among registries with P partitions. Pure. */
export function memberKeys(partitions: number): string {
  return `registry.${partitions}.m.>`;
}

/**
 * Which partition `me` should hand over, if any: when it serves more than ceil(P / live instances) while another
 * live instance holds fewer than that, its highest partition. `holders[k]` is the holder of partition k's lease
 * (null when free); `live` the live instances other than `me`. Pure.
 */
export function partitionToHandOver(
  partitions: number,
  me: string,
  serving: readonly number[],
  holders: readonly (string | null)[],
  live: readonly string[],
): number | undefined {
  const others = live.filter((i) => i !== me);
  const fair = Math.ceil(partitions / (others.length + 1));
  if (serving.length <= fair) return undefined;
  const held = new Map<string, number>();
  for (const h of holders) if (h !== null) held.set(h, (held.get(h) ?? 0) + 1);
  if (!others.some((i) => (held.get(i) ?? 0) < fair)) return undefined;
  return Math.max(...serving);
}

/** Tells live instances from dead ones by whether their presence key's revision moved between two looks. */
export class MemberWatch {
  private readonly last = new Map<string, { revision: number; holder: string }>();

  /** Takes one look (every presence key's holder and revision) and returns the holders seen renewed since the last. */
  look(seen: readonly { key: string; holder: string; revision: number; released: boolean }[]): string[] {
    const live: string[] = [];
    const now = new Map<string, { revision: number; holder: string }>();
    for (const m of seen) {
      if (m.released) continue;
      const before = this.last.get(m.key);
      if (before !== undefined && before.revision !== m.revision) live.push(m.holder);
      now.set(m.key, { revision: m.revision, holder: m.holder });
    }
    this.last.clear();
    for (const [k, v] of now) this.last.set(k, v);
    return live;
  }
}
