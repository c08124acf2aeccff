/**
 * The host lease's note (what a deposed connection reads of the one that took its host) and the host-conflict
 * summary, with no I/O: the note round-trips, stays within LeaseRecord's 200 characters at every field's
 * bound, reads notes of older gateways, and a host name cannot forge a field. Pure.
 */
import { describe, expect, it } from "vitest";
import { LeaseRecord, type LeaseView } from "../bus/index.js";
import { claimantOf, claimNote, hostConflict, type ClaimNoteFields } from "./host-leases.js";
import { runKeyOf } from "./protocol.js";

const view = (note: string): LeaseView => ({
  record: LeaseRecord.parse({ holder: "gw-1", ttlMs: 15_000, takenAtMs: 1, note }),
  revision: 9,
  epoch: 7,
});
const fields: ClaimNoteFields = {
  agentEpoch: "0m1abc2def-x1y2z3",
  hostname: "build-box.example.com",
  runKey: runKeyOf("a-run-secret-of-43-characters-xxxxxxxxxxxxx"),
  tokenId: "0123456789abcdef",
  remoteAddress: "10.1.2.3",
};

describe("host lease notes", () => {
  it("names the run, its key, the host name, the token id and the remote address, and reads back", () => {
    const note = claimNote(fields);
    expect(note).toBe(
      `agent=0m1abc2def-x1y2z3 hostname=build-box.example.com key=${fields.runKey} token=0123456789abcdef from=10.1.2.3`,
    );
    expect(claimantOf(view(note))).toEqual({
      ...fields,
      gatewayId: "gw-1",
      leaseEpoch: 7,
    });
    // An agent without a secret (older), a connection without an address.
    const bare = claimNote({ ...fields, runKey: null, remoteAddress: null });
    expect(bare).toBe("agent=0m1abc2def-x1y2z3 hostname=build-box.example.com token=0123456789abcdef");
    expect(claimantOf(view(bare))).toMatchObject({ runKey: null, remoteAddress: null, tokenId: "0123456789abcdef" });
  });

  it("fits LeaseRecord's 200 characters at every bound, by shortening the host name", () => {
    const longest = {
      agentEpoch: "r".repeat(64),
      hostname: "h".repeat(255),
      runKey: runKeyOf("x".repeat(128)),
      tokenId: "f".repeat(16),
      remoteAddress: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%interface-name-long",
    };
    const note = claimNote(longest);
    expect(note.length).toBeLessThanOrEqual(200);
    expect(LeaseRecord.safeParse({ holder: "g", ttlMs: 1, takenAtMs: 0, note }).success).toBe(true);
    const read = claimantOf(view(note));
    expect(read).toMatchObject({ agentEpoch: longest.agentEpoch, runKey: longest.runKey, tokenId: longest.tokenId });
    expect(longest.hostname.startsWith(read.hostname ?? "")).toBe(true);
  });

  it("a host name cannot add fields: its whitespace is replaced", () => {
    const forged = claimNote({ ...fields, runKey: null, hostname: `evil key=${fields.runKey} token=ffffffffffffffff` });
    expect(claimantOf(view(forged))).toMatchObject({ runKey: null, tokenId: "0123456789abcdef" });
  });

  it("reads notes older gateways wrote: the run and host name, nothing else known", () => {
    expect(claimantOf(view("agent=run-9 hostname=my box.local"))).toEqual({
      agentEpoch: "run-9",
      runKey: null,
      hostname: "my box.local",
      tokenId: null,
      remoteAddress: null,
      gatewayId: "gw-1",
      leaseEpoch: 7,
    });
    expect(claimantOf(view("takeover: newer connection"))).toMatchObject({ agentEpoch: null, hostname: null });
  });
});

describe("host-conflict summaries", () => {
  const side = (tokenId: string | null, hostname: string, remoteAddress: string) => ({
    agentEpoch: `run-${hostname}`,
    hostname,
    gatewayId: "gw-1",
    remoteAddress,
    tokenId,
  });

  it("the same token id on both sides is a copied token, and the summary says how to revoke it", () => {
    const c = hostConflict(
      "h1",
      side("aaaa000011112222", "b", "10.0.0.2"),
      side("aaaa000011112222", "a", "10.0.0.1"),
      5,
    );
    expect(c.copiedToken).toBe(true);
    expect(c.summary).toBe(
      "Host h1 is claimed by two agents: the agent on b (run run-b, token aaaa000011112222, from 10.0.0.2, via gw-1) holds it since lease epoch 5; " +
        "the agent on a (run run-a, token aaaa000011112222, from 10.0.0.1, via gw-1) was told to stop. " +
        "Both used host token aaaa000011112222: that token was copied to a second machine, or stolen. " +
        "Revoke it (claw-supervisor token revoke h1 --token-id aaaa000011112222) and give each machine its own host id and token.",
    );
  });

  it("different tokens are two machines set up as one host; an unknown token says nothing of tokens", () => {
    const two = hostConflict("h1", side("bbbb", "b", "10.0.0.2"), side("aaaa", "a", "10.0.0.1"), 5);
    expect(two.copiedToken).toBe(false);
    expect(two.summary).toContain("two different tokens of this host id (bbbb, aaaa)");
    const unknown = hostConflict("h1", side(null, "b", "10.0.0.2"), side("aaaa", "a", "10.0.0.1"), 5);
    expect(unknown.copiedToken).toBe(false);
    expect(unknown.summary).not.toMatch(/token was copied|different tokens/);
  });
});
