/**
 * Two Claws of one group (two plugin services, clawIds `a` and `b`, the groups given by an injected `claws`
 * source) over 20 sessions in a real registry on a real nats-server: they share the sessions with none owned by
 * both; host notices reach both, a session's notices only its owner, `session-adopted` only the adopter; a notice
 * about a session nobody owns yet is held and delivered once it is owned; commands carry the owner's epoch; and
 * when one stops without releasing (a crash) the other takes its sessions within TTL + two periods, each with one
 * `session-adopted` notice naming the previous owner.
 */
import { jetstream } from "@nats-io/jetstream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClawsResult } from "../../schemas/claw-groups.js";
import { FleetEvent } from "../../schemas/fleet.js";
import { STREAM_NAMES, leaseKeys, leaseView, openKvBucket, readStream, subjects } from "../bus/index.js";
import { startRegistry, type Registry } from "../registry/index.js";
import { FakeHost } from "../registry/test-fleet.js";
import { startBus, type TestBus } from "../../test/support/bus.js";
import { until } from "../../test/support/wait.js";
import { designatedClaw } from "../clients/claw-ownership.js";
import { clawCaller } from "./claw-caller.js";
import { parsePluginConfig } from "./config.js";
import { FleetService, type SystemEventSink } from "./fleet-service.js";

const TTL = 2_000;
const PERIOD = Math.floor(TTL / 3);
const SESSIONS = Array.from({ length: 20 }, (_, i) => `s${String(i).padStart(2, "0")}`);
const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };

const groups: ClawsResult = {
  configured: true,
  leaseTtlMs: TTL,
  escalateAfterMs: null,
  groups: [{ name: "g", parent: null, owns: [{ host: "h1" }], claws: ["a", "b"] }],
  claws: [],
  sessions: [],
};

interface Claw {
  svc: FleetService;
  events: { text: string; contextKey?: string }[];
}

let bus: TestBus;
let registry: Registry;
let host: FakeHost;
const claws = new Map<string, Claw>();
/** Sessions seen owned by two Claws at once, sampled every 20 ms through the whole file. */
const doubled = new Set<string>();
let sampler: NodeJS.Timeout | undefined;

function sink(events: Claw["events"]): SystemEventSink {
  return {
    enqueueSystemEvent: (text, o) => {
      events.push({ text, ...(o.contextKey === undefined ? {} : { contextKey: o.contextKey }) });
      return true;
    },
    requestHeartbeat: () => undefined,
  };
}

async function startClaw(clawId: string): Promise<Claw> {
  const events: Claw["events"] = [];
  const config = parsePluginConfig({ natsUrl: bus.url, clawId, coalesceMs: 0 });
  const svc = new FleetService(config, () => sink(events), quiet, { claws: async () => groups });
  await svc.start("/nonexistent");
  const claw = { svc, events };
  claws.set(clawId, claw);
  return claw;
}

const owned = (c: Claw) => c.svc.ownershipManager()?.owned() ?? new Map<string, number>();

/** Every session-adopted notice in FLEET. */
async function adoptions(): Promise<FleetEvent[]> {
  const out: FleetEvent[] = [];
  for await (const m of readStream(bus.nc, STREAM_NAMES.fleet)) {
    const e = FleetEvent.parse(JSON.parse(new TextDecoder().decode(m.data)));
    if (e.kind === "session-adopted") out.push(e);
  }
  return out;
}

/** Publishes a high-priority notice about `sessionId` (null: a host notice). */
async function notice(id: string, sessionId: string | null): Promise<void> {
  const e: FleetEvent = {
    id,
    kind: sessionId ? "session-ask" : "host-stale",
    priority: "high",
    hostId: "h1",
    sessionId,
    atMs: Date.now(),
    previousStatus: null,
    session: null,
    host: null,
  };
  await jetstream(bus.nc).publish(subjects.fleet(e.kind), JSON.stringify(e), { msgID: id });
}

const got = (c: Claw, sessionId: string, kind: string) =>
  c.events.some((e) => e.contextKey === `claw-supervisor:session:h1/${sessionId}:${kind}`);

beforeAll(async () => {
  bus = await startBus({ ensure: true });
  registry = await startRegistry({ nc: bus.nc, sweepIntervalMs: 60_000 });
  host = new FakeHost(bus, "h1");
  for (const s of SESSIONS) await host.synced(s);
  await until("20 sessions in the registry", async () => {
    const r = await bus.nc.request(subjects.registrySessionsList(), JSON.stringify({ filter: {}, limit: 100 }));
    return (r.json() as { sessions: unknown[] }).sessions.length === SESSIONS.length;
  });
  sampler = setInterval(() => {
    const all = [...claws.values()].map(owned);
    for (const s of [...SESSIONS, "s-new"]) if (all.filter((o) => o.has(s)).length > 1) doubled.add(s);
  }, 20);
  await startClaw("a");
  await startClaw("b");
}, 60_000);

afterAll(async () => {
  clearInterval(sampler);
  for (const c of claws.values()) await c.svc.stop().catch(() => undefined);
  await registry?.stop();
  await bus?.stop();
});

describe("two Claws of one group", () => {
  it("share the sessions, none owned by both, each taking with one session-adopted notice", async () => {
    const [a, b] = [claws.get("a")!, claws.get("b")!];
    // Settled: each session held by the Claw the rendezvous hash gives it among the two (a Claw that started
    // first may have taken them all, and released the other's share once it saw it live).
    const expected = new Map(SESSIONS.map((s) => [s, designatedClaw(s, ["a", "b"])]));
    await until(
      "every session owned by the Claw designated for it, and by no other",
      () => {
        const [oa, ob] = [owned(a), owned(b)];
        return SESSIONS.every(
          (s) => oa.has(s) === (expected.get(s) === "a") && ob.has(s) === (expected.get(s) === "b"),
        );
      },
      { timeoutMs: 20_000, detail: () => JSON.stringify([a.svc.status().ownership, b.svc.status().ownership]) },
    );
    const [oa, ob] = [owned(a), owned(b)];
    expect(oa.size).toBeGreaterThan(0);
    expect(ob.size).toBeGreaterThan(0);
    // The bucket says the same, at the same epochs.
    const kv = await openKvBucket(bus.nc, "codex-leases");
    for (const s of SESSIONS) {
      const view = leaseView(await kv.get(leaseKeys.clawSession(s)));
      expect(view?.record.holder, s).toBe(oa.has(s) ? "a" : "b");
      expect(view?.epoch, s).toBe(oa.get(s) ?? ob.get(s));
    }
    // One notice per taking: the first from nobody; a Claw that started first may have taken sessions the other
    // then got by release (the last taking is the owner's, at its epoch).
    const bySession = await until("a session-adopted notice per taking", async () => {
      const all = await adoptions();
      const by = new Map<string, FleetEvent[]>();
      for (const e of all) by.set(e.sessionId!, [...(by.get(e.sessionId!) ?? []), e]);
      const takings = (a.svc.status().ownership?.adoptions ?? 0) + (b.svc.status().ownership?.adoptions ?? 0);
      return all.length === takings &&
        SESSIONS.every((s) => by.get(s)?.at(-1)?.adoption?.leaseEpoch === (oa.get(s) ?? ob.get(s)))
        ? by
        : undefined;
    });
    for (const s of SESSIONS) {
      const list = bySession.get(s)!;
      expect(list[0]!.adoption, s).toMatchObject({ group: "g", previousClawId: null, why: "unowned" });
      for (const [i, e] of list.entries()) {
        expect(e.id).toBe(`adopted.${s}.${e.adoption?.leaseEpoch}`);
        expect(e.session?.sessionId).toBe(s);
        if (i > 0)
          expect(e.adoption, s).toMatchObject({ why: "released", previousClawId: list[i - 1]!.adoption?.clawId });
      }
      expect(list.at(-1)!.adoption?.clawId, s).toBe(oa.has(s) ? "a" : "b");
    }
    // Each session's session-new reached a Claw that owned it (two, when it moved while the notice waited), and
    // each session-adopted only the Claw it names.
    await until("each owner got its sessions' notices", () =>
      SESSIONS.every(
        (s) => got(oa.has(s) ? a : b, s, "session-adopted") && (got(a, s, "session-new") || got(b, s, "session-new")),
      ),
    );
    for (const s of SESSIONS) {
      const adopters = new Set(bySession.get(s)!.map((e) => e.adoption?.clawId));
      for (const [id, c] of [
        ["a", a],
        ["b", b],
      ] as const) {
        if (!adopters.has(id)) expect(got(c, s, "session-new"), `${s} session-new in ${id}`).toBe(false);
        if (!adopters.has(id)) expect(got(c, s, "session-adopted"), `${s} session-adopted in ${id}`).toBe(false);
      }
    }
    expect(a.svc.status().ownership).toMatchObject({ configured: true, group: "g", acting: true });
  }, 40_000);

  it("deliver a session's notice to its owner only, a host notice to both", async () => {
    const [a, b] = [claws.get("a")!, claws.get("b")!];
    const sa = [...owned(a).keys()][0]!;
    const sb = [...owned(b).keys()][0]!;
    await notice("ask-a", sa);
    await notice("ask-b", sb);
    await notice("host-1", null);
    await until("the notices delivered", () => got(a, sa, "session-ask") && got(b, sb, "session-ask"));
    await until("the host notice in both", () =>
      [a, b].every((c) => c.events.some((e) => e.contextKey === "claw-supervisor:host:h1:host-stale")),
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(got(b, sa, "session-ask")).toBe(false);
    expect(got(a, sb, "session-ask")).toBe(false);
    expect(a.svc.status().ownership?.noticesSkipped).toBeGreaterThan(0);
  });

  it("hold a notice about a session nobody owns yet and deliver it to the Claw that takes it", async () => {
    const [a, b] = [claws.get("a")!, claws.get("b")!];
    await notice("ask-new", "s-new");
    await new Promise((r) => setTimeout(r, 800));
    expect(got(a, "s-new", "session-ask") || got(b, "s-new", "session-ask")).toBe(false);
    expect((a.svc.status().ownership?.noticesHeld ?? 0) + (b.svc.status().ownership?.noticesHeld ?? 0)).toBeGreaterThan(
      0,
    );
    await host.synced("s-new");
    const owner = await until(
      "s-new owned",
      () => (owned(a).has("s-new") ? a : owned(b).has("s-new") ? b : undefined),
      {
        timeoutMs: 10_000,
      },
    );
    const other = owner === a ? b : a;
    await until("the held notice delivered to the owner", () => got(owner, "s-new", "session-ask"), {
      timeoutMs: 10_000,
    });
    await new Promise((r) => setTimeout(r, 1_500));
    expect(got(other, "s-new", "session-ask")).toBe(false);
  }, 30_000);

  it("commands on an owned session carry its epoch; others carry none", async () => {
    const a = claws.get("a")!;
    const b = claws.get("b")!;
    const [sa, epoch] = [...owned(a).entries()][0]!;
    const sb = [...owned(b).keys()][0]!;
    const seen: unknown[] = [];
    const sub = bus.nc.subscribe(subjects.command("mark"), {
      callback: (_err, m) => {
        seen.push(m.json());
        m.respond(JSON.stringify({ ok: true, data: { marked: true } }));
      },
    });
    await bus.nc.flush();
    try {
      const caller = clawCaller(
        () => a.svc.connection(),
        "a",
        5_000,
        () => a.svc.leases(),
      );
      await caller.command("mark", { target: { sessionId: sa }, disposition: "done" });
      await caller.command("mark", { target: { hostId: "h1", sessionId: sb }, disposition: "done" });
      expect(seen).toEqual([
        expect.objectContaining({ caller: { id: "a", role: "claw" }, lease: { epoch } }),
        expect.not.objectContaining({ lease: expect.anything() }),
      ]);
    } finally {
      sub.unsubscribe();
    }
  });

  it("when one stops without releasing, the other takes its sessions within TTL + two periods, one session-adopted each", async () => {
    const [a, b] = [claws.get("a")!, claws.get("b")!];
    const fromB = [...owned(b).keys()];
    expect(fromB.length).toBeGreaterThan(0);
    const before = (await adoptions()).length;
    const stoppedAt = Date.now();
    await b.svc.stop({ release: false });
    claws.delete("b");
    await until("a owns every session", () => SESSIONS.every((s) => owned(a).has(s)), {
      timeoutMs: 4 * TTL,
      detail: () => JSON.stringify(a.svc.status().ownership),
    });
    const took = Date.now() - stoppedAt;
    expect(took).toBeLessThanOrEqual(TTL + 2 * PERIOD + 1_500);
    const moved = await until("a session-adopted per moved session", async () => {
      const all = (await adoptions()).slice(before);
      return all.length >= fromB.length ? all : undefined;
    });
    await new Promise((r) => setTimeout(r, 500));
    const after = (await adoptions()).slice(before);
    expect(after).toHaveLength(fromB.length);
    expect(moved.map((e) => e.sessionId).sort()).toEqual([...fromB].sort());
    for (const e of moved) expect(e.adoption).toMatchObject({ clawId: "a", previousClawId: "b", why: "lapsed" });
    await until("a got them in its context", () => fromB.every((s) => got(a, s, "session-adopted")));
  }, 30_000);

  it("never had a session owned by two Claws at once (sampled every 20 ms)", () => {
    expect([...doubled]).toEqual([]);
  });
});

describe("a Claw that stopped acting", () => {
  it("refuses commands that change anything, saying what happened", async () => {
    const sent: unknown[] = [];
    const nc = { request: async () => ({}) } as never;
    const caller = clawCaller(
      () => nc,
      "a",
      1_000,
      () => ({ acting: () => false, epochOf: () => 7 }),
    );
    for (const verb of ["send", "mark", "approve", "spawn", "broadcast"] as const)
      await expect(caller.command(verb, { target: { sessionId: "s1" } })).rejects.toThrow(
        /lost the supervisor's bus.*stopped acting so another Claw can take its sessions/,
      );
    expect(sent).toEqual([]);
  });
});
