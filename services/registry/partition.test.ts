/** Partitions: the host hash is FNV-1a (fixed: instances must agree), names, and where a new P's consumers start. */
import { describe, expect, it } from "vitest";
import {
  fnv1a32,
  hostOfEventSubject,
  hostOfSessionKey,
  newPartitionStart,
  PartitionMap,
  parsePartitionDurable,
  partitionDurable,
  partitionOf,
} from "./partition.js";

describe("registry partitions", () => {
  it("hashes host ids with 32-bit FNV-1a over UTF-8 (the published test vectors)", () => {
    expect(fnv1a32("")).toBe(0x811c9dc5);
    expect(fnv1a32("a")).toBe(0xe40c292c);
    expect(fnv1a32("foobar")).toBe(0xbf9cf968);
    // Non-ASCII host ids hash their UTF-8 bytes (c3 a9), not the UTF-16 code unit (e9, which gives 0x6c0b6c44).
    expect(fnv1a32("é")).toBe(0x1e9de8c1);
    expect([partitionOf("h-a", 2), partitionOf("h-b", 2)]).toEqual([1, 0]);
    expect(partitionOf("anything", 1)).toBe(0);
    const map = new PartitionMap(7);
    for (const h of ["h-a", "h-b", "gpu-01", "主机"]) expect(map.of(h)).toBe(fnv1a32(h) % 7);
  });

  it("spreads hosts over the partitions", () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4_000; i++) counts[partitionOf(`host-${i}`, 4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });

  it("reads the host out of a subject or a view key without parsing anything else", () => {
    expect(hostOfEventSubject("codex.evt.h-a.t1")).toBe("h-a");
    expect(hostOfEventSubject("codex.host.h-a")).toBeUndefined();
    expect(hostOfSessionKey("h-a.t1")).toBe("h-a");
  });

  it("names each partition's durable: the plain name when P = 1, <name>-<P>-<k> otherwise, and reads them back", () => {
    expect(partitionDurable("registry", 1, 0)).toBe("registry");
    expect(partitionDurable("registry", 4, 3)).toBe("registry-4-3");
    expect(parsePartitionDurable("registry", "registry")).toEqual({ partitions: 1, partition: 0 });
    expect(parsePartitionDurable("registry", "registry-4-3")).toEqual({ partitions: 4, partition: 3 });
    expect(parsePartitionDurable("registry", "registry-4-4")).toBeNull();
    expect(parsePartitionDurable("registry", "registry-restart")).toBeNull();
    expect(parsePartitionDurable("registry", "other-2-0")).toBeNull();
  });

  it("starts a new P's consumers after the lowest ack floor of another complete group, the highest such bound", () => {
    const c = (name: string, ackFloor: number) => ({ name, ackFloor });
    // No other group: from the first event.
    expect(newPartitionStart("registry", 2, [])).toBeUndefined();
    expect(newPartitionStart("registry", 2, [c("registry-2-0", 50)])).toBeUndefined();
    // P = 1 -> 2: after the old consumer's floor.
    expect(newPartitionStart("registry", 2, [c("registry", 120), c("registry-2-0", 130)])).toBe(121);
    // 2 -> 3: the lowest floor of the old group (every event up to it is in the view, whatever its partition).
    expect(newPartitionStart("registry", 3, [c("registry-2-0", 300), c("registry-2-1", 250)])).toBe(251);
    // An incomplete group bounds nothing; of two complete groups the higher bound wins.
    expect(
      newPartitionStart("registry", 4, [
        c("registry", 100),
        c("registry-2-0", 400),
        c("registry-2-1", 380),
        c("registry-3-0", 900),
      ]),
    ).toBe(381);
    // Another family's consumers are not ours.
    expect(newPartitionStart("registry", 2, [c("registry-restart", 500)])).toBeUndefined();
  });
});
