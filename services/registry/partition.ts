/**
 * Registry partitions: which of P partitions a host belongs to, and the names that go with a partition (its
 * durable consumer, its lease key). Pure.
 *
 * A host's partition is `fnv1a32(utf8(hostId)) mod P`: 32-bit FNV-1a (offset basis 0x811c9dc5, prime
 * 0x01000193) over the host id's UTF-8 bytes. It is part of the contract between instances (every instance
 * must place a host in the same partition): never change it. Every session of a host lives in its host's
 * partition, so a host-wide event and the host's sweep stay within one partition.
 */
const utf8 = new TextEncoder();

/** 32-bit FNV-1a of `text`'s UTF-8 bytes, as an unsigned integer. Pure. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of utf8.encode(text)) hash = Math.imul(hash ^ byte, 0x01000193);
  return hash >>> 0;
}

/** The most partitions a registry may be configured with. */
export const MAX_PARTITIONS = 64;

/** The partition (0..partitions-1) of `hostId`. Pure. */
export function partitionOf(hostId: string, partitions: number): number {
  return partitions === 1 ? 0 : fnv1a32(hostId) % partitions;
}

/**
 * Whether registry partition lease `lease` (`registry.<P>.<k>`, any P) is the one whose writer owns `hostId`'s
 * view entries. Pure.
 */
export function partitionLeaseCovers(lease: string, hostId: string): boolean {
  const m = /^registry\.(\d{1,3})\.(\d{1,3})$/.exec(lease);
  if (!m) return false;
  const [partitions, partition] = [Number(m[1]), Number(m[2])];
  return partitions >= 1 && partitions <= MAX_PARTITIONS && partitionOf(hostId, partitions) === partition;
}

/**
 * `partitionOf` with a cache per host id (hosts are few, events many): what the consume loop asks for every
 * event when P > 1.
 */
export class PartitionMap {
  private readonly cache = new Map<string, number>();

  constructor(readonly partitions: number) {}

  of(hostId: string): number {
    if (this.partitions === 1) return 0;
    let p = this.cache.get(hostId);
    if (p === undefined) {
      if (this.cache.size >= 100_000) this.cache.clear();
      p = partitionOf(hostId, this.partitions);
      this.cache.set(hostId, p);
    }
    return p;
  }
}

const EVENT_PREFIX = "codex.evt.";

/** The host id token of a session event subject `codex.evt.<hostId>.<threadId>` (undefined for any other). Pure. */
export function hostOfEventSubject(subject: string): string | undefined {
  if (!subject.startsWith(EVENT_PREFIX)) return undefined;
  const end = subject.indexOf(".", EVENT_PREFIX.length);
  return end < 0 ? undefined : subject.slice(EVENT_PREFIX.length, end);
}

/** The host id of a `codex-sessions` key `<hostId>.<threadId>` (host ids hold no '.'). Pure. */
export function hostOfSessionKey(key: string): string {
  const dot = key.indexOf(".");
  return dot < 0 ? key : key.slice(0, dot);
}

/**
 * The durable consumer of partition `partition` of `partitions`: the configured name itself when P = 1 (so a
 * registry from before partitions resumes its own consumer), else `<name>-<P>-<k>`. Pure.
 */
export function partitionDurable(durableName: string, partitions: number, partition: number): string {
  return partitions === 1 ? durableName : `${durableName}-${partitions}-${partition}`;
}

/** Reads a consumer name made by `partitionDurable` for `durableName` back into (P, k); null for any other. Pure. */
export function parsePartitionDurable(
  durableName: string,
  name: string,
): { partitions: number; partition: number } | null {
  if (name === durableName) return { partitions: 1, partition: 0 };
  if (!name.startsWith(`${durableName}-`)) return null;
  const m = /^(\d+)-(\d+)$/.exec(name.slice(durableName.length + 1));
  if (!m) return null;
  const partitions = Number(m[1]);
  const partition = Number(m[2]);
  if (partitions < 2 || partitions > MAX_PARTITIONS || partition >= partitions) return null;
  return { partitions, partition };
}

/**
 * Where a partition consumer that does not exist yet starts, given every consumer of the stream (name, ack
 * floor): after the ack floor of another P's consumer group that is complete (all of its P' consumers exist),
 * taking each group's lowest floor (every event up to it is in the view, whichever partition its host was in)
 * and the highest such bound over the groups. Undefined when no other complete group exists: start at the first
 * event (replaying is idempotent, only slower). Pure.
 */
export function newPartitionStart(
  durableName: string,
  partitions: number,
  consumers: readonly { name: string; ackFloor: number }[],
): number | undefined {
  const groups = new Map<number, Map<number, number>>();
  for (const c of consumers) {
    const parsed = parsePartitionDurable(durableName, c.name);
    if (!parsed || parsed.partitions === partitions) continue;
    let group = groups.get(parsed.partitions);
    if (!group) groups.set(parsed.partitions, (group = new Map()));
    group.set(parsed.partition, c.ackFloor);
  }
  let best: number | undefined;
  for (const [p, group] of groups) {
    if (group.size !== p) continue;
    const floor = Math.min(...group.values());
    if (best === undefined || floor > best) best = floor;
  }
  return best === undefined || best === 0 ? undefined : best + 1;
}
