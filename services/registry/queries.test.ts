import { describe, expect, it } from "vitest";
import type { HostRecord } from "../../schemas/registry.js";
import { subjects } from "../bus/index.js";
import { answerQuery, type QueryView } from "./queries.js";
import { SessionIndex, decodeCursor, encodeCursor } from "./session-index.js";
import { hostRecord, sessionRecord } from "./test-records.js";

const body = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === "string" ? v : JSON.stringify(v));

function view(): QueryView {
  const sessions = new SessionIndex();
  // Inserted out of order: the index keeps (host, sessionId) order, with "a" before "a-b" whatever the key text says.
  sessions.put(sessionRecord({ host: "h2", sessionId: "t1", status: "active", humanAttached: true }));
  sessions.put(sessionRecord({ host: "h1", sessionId: "t2", repo: "other", autonomous: true }));
  sessions.put(sessionRecord({ host: "h1", sessionId: "t1", status: "stale", disposition: "done" }));
  sessions.put(sessionRecord({ host: "a-b", sessionId: "t9" }));
  sessions.put(sessionRecord({ host: "a", sessionId: "t9" }));
  const hosts: HostRecord[] = [hostRecord({ hostId: "h1", sessions: 2 })];
  return { sessions, hosts: () => hosts };
}

const list = (v: QueryView, req: unknown) =>
  answerQuery(subjects.registrySessionsList(), body(req), v) as Record<string, unknown>;
const ids = (reply: unknown) =>
  (reply as { sessions: { host: string; sessionId: string }[] }).sessions.map((s) => `${s.host}/${s.sessionId}`);

describe("registry queries", () => {
  it("lists every session in a stable order with defaults for an empty request", () => {
    const v = view();
    const reply = list(v, "");
    expect(ids(reply)).toEqual(["a/t9", "a-b/t9", "h1/t1", "h1/t2", "h2/t1"]);
    expect(reply).toMatchObject({ total: 5, nextCursor: null });
  });

  it("applies every filter field", () => {
    const v = view();
    expect(ids(list(v, { filter: { host: "h1" } }))).toEqual(["h1/t1", "h1/t2"]);
    expect(ids(list(v, { filter: { repo: "other" } }))).toEqual(["h1/t2"]);
    expect(ids(list(v, { filter: { status: "active" } }))).toEqual(["h2/t1"]);
    expect(ids(list(v, { filter: { disposition: "done" } }))).toEqual(["h1/t1"]);
    expect(ids(list(v, { filter: { humanAttached: true } }))).toEqual(["h2/t1"]);
    expect(ids(list(v, { filter: { autonomous: true, host: "h1" } }))).toEqual(["h1/t2"]);
    expect(list(v, { filter: { host: "nope" } })).toEqual({ shortIds: {}, sessions: [], nextCursor: null, total: 0 });
  });

  it("filters by group, owner, waiting and attention", () => {
    const v = view();
    v.sessions.put(sessionRecord({ host: "h3", sessionId: "g1", group: "docs", owner: "erin" }));
    v.sessions.put(sessionRecord({ host: "h3", sessionId: "w1", status: "active", waitingOn: "userInput" }));
    v.sessions.put(
      sessionRecord({ host: "h3", sessionId: "q1", ask: { correlationId: "c", kind: "help", question: "?", atMs: 5 } }),
    );
    v.sessions.put(
      sessionRecord({
        host: "h3",
        sessionId: "o1",
        handoff: { to: { kind: "human", who: null }, note: "", by: "bob", atMs: 5 },
      }),
    );
    expect(ids(list(v, { filter: { group: "docs" } }))).toEqual(["h3/g1"]);
    expect(ids(list(v, { filter: { owner: "erin" } }))).toEqual(["h3/g1"]);
    expect(ids(list(v, { filter: { waiting: true } }))).toEqual(["h3/q1", "h3/w1"]);
    // h1/t1 is stale but marked done: it needs nobody.
    expect(ids(list(v, { filter: { attention: true } }))).toEqual(["h3/o1", "h3/q1", "h3/w1"]);
    expect(ids(list(v, { filter: { attention: true, host: "h1" } }))).toEqual([]);
    expect(list(v, { filter: { waiting: false } }).total).toBe(7);
  });

  it("resolves a typed reference: a whole id, a prefix of it or of its last group; a whole id wins", () => {
    const sessions = new SessionIndex();
    const a = "01a236ac-1234-7abc-8def-0123456789ab";
    const b = "01a236ac-1234-7abc-8def-0123ffffffff";
    const c = "01a236ac-5555-7abc-8def-99999999aaaa";
    sessions.put(sessionRecord({ host: "h1", sessionId: a }));
    sessions.put(sessionRecord({ host: "h1", sessionId: b }));
    sessions.put(sessionRecord({ host: "h2", sessionId: c }));
    sessions.put(sessionRecord({ host: "h2", sessionId: "0123" }));
    const v: QueryView = { sessions, hosts: () => [] };
    const resolve = (req: unknown) =>
      answerQuery(subjects.registrySessionsResolve(), body(req), v) as {
        matches: { host: string; sessionId: string }[];
        total: number;
      };
    const found = (req: unknown) => resolve(req).matches.map((s) => `${s.host}/${s.sessionId}`);
    expect(found({ ref: "01234567" })).toEqual([`h1/${a}`]);
    expect(found({ ref: "0123f" })).toEqual([`h1/${b}`]);
    expect(found({ ref: "01a236ac-5" })).toEqual([`h2/${c}`]);
    expect(found({ ref: "0123" })).toEqual(["h2/0123"]);
    expect(found({ ref: "01a236ac" })).toEqual([`h1/${a}`, `h1/${b}`, `h2/${c}`]);
    expect(found({ ref: "01a236ac", host: "h2" })).toEqual([`h2/${c}`]);
    expect(resolve({ ref: "nope" })).toEqual({ matches: [], total: 0, shortIds: {} });
    for (let i = 0; i < 30; i++) sessions.put(sessionRecord({ host: "h9", sessionId: `many-${i}` }));
    expect(resolve({ ref: "many" })).toMatchObject({ matches: expect.any(Array), total: 30 });
    expect(resolve({ ref: "many" }).matches).toHaveLength(20);
    expect(answerQuery(subjects.registrySessionsResolve(), body({ ref: "" }), v)).toMatchObject({
      error: { code: "invalid", message: expect.stringMatching(/^invalid request: ref: Too small/) },
    });
    expect(answerQuery(subjects.registrySessionsResolve(), body({ ref: "x", id: 1 }), v)).toMatchObject({
      error: { code: "invalid" },
    });
  });

  it("gives each session's short id unique over the whole index, in list, get and resolve replies", () => {
    const sessions = new SessionIndex();
    const a = "01a236ac-1234-7abc-8def-0123456789ab";
    const b = "01a236ac-1234-7abc-8def-01234567ffff"; // shares a's first 8 hex digits of the last group
    sessions.put(sessionRecord({ host: "h1", sessionId: a }));
    sessions.put(sessionRecord({ host: "h2", sessionId: "plain" }));
    const v: QueryView = { sessions, hosts: () => [] };
    const ask = (subject: string, req: unknown) => answerQuery(subject, body(req), v);
    // Alone, a needs 8 digits; the answer is cached until a new session id comes.
    expect(ask(subjects.registrySessionsList(), { filter: { host: "h1" } })).toMatchObject({
      shortIds: { [a]: "01234567" },
    });
    sessions.put(sessionRecord({ host: "h1", sessionId: a, summary: "replaced" }));
    expect(sessions.shortId(a)).toBe("01234567");
    sessions.put(sessionRecord({ host: "h3", sessionId: b }));
    // b is on another host, and the list shows h1 only: a's short id is still long enough to tell them apart.
    const page = ask(subjects.registrySessionsList(), { filter: { host: "h1" } }) as { shortIds: object };
    expect(page.shortIds).toEqual({ [a]: "012345678" });
    expect(ask(subjects.registrySessionsGet(), { sessionId: a })).toMatchObject({ shortId: "012345678" });
    expect(ask(subjects.registrySessionsResolve(), { ref: "012345678" })).toMatchObject({
      matches: [{ sessionId: a }],
      total: 1,
      shortIds: { [a]: "012345678" },
    });
    expect(ask(subjects.registrySessionsResolve(), { ref: "plain" })).toMatchObject({ shortIds: { plain: "plain" } });
  });

  it("pages with an opaque cursor that stays valid while sessions are added", () => {
    const v = view();
    const first = list(v, { limit: 2 });
    expect(ids(first)).toEqual(["a/t9", "a-b/t9"]);
    expect(first.total).toBe(5);
    expect(typeof first.nextCursor).toBe("string");
    v.sessions.put(sessionRecord({ host: "a", sessionId: "t0" })); // before the cursor: not seen again
    v.sessions.put(sessionRecord({ host: "h1", sessionId: "t15" })); // after it: seen
    const second = list(v, { limit: 2, cursor: first.nextCursor });
    expect(ids(second)).toEqual(["h1/t1", "h1/t15"]);
    const third = list(v, { limit: 2, cursor: second.nextCursor });
    expect(ids(third)).toEqual(["h1/t2", "h2/t1"]);
    expect(third.nextCursor).toBeNull();
    expect(third.total).toBe(7);
    expect(decodeCursor(encodeCursor(["x.y", "z"]))).toEqual(["x.y", "z"]);
  });

  it("gets one session by host and id, or by id alone, and says when the id is ambiguous", () => {
    const v = view();
    const get = (req: unknown) => answerQuery(subjects.registrySessionsGet(), body(req), v);
    expect(get({ host: "h1", sessionId: "t2" })).toMatchObject({
      session: { host: "h1", sessionId: "t2", repo: "other" },
    });
    expect(get({ sessionId: "t2" })).toMatchObject({ session: { host: "h1" } });
    expect(get({ sessionId: "missing" })).toEqual({ session: null, shortId: null });
    expect(get({ sessionId: "t1" })).toEqual({
      error: { code: "invalid", message: "session t1 exists on hosts h1, h2: give host" },
    });
  });

  it("keeps records in order and current when replacements mix with insertions and removals", () => {
    const index = new SessionIndex();
    const expected = new Map<string, number>();
    let seed = 7;
    const next = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    for (let step = 0; step < 3_000; step++) {
      const host = `h${next(3)}`;
      const id = `t${next(40)}`;
      const key = `${host}/${id}`;
      if (next(10) === 0 && expected.has(key)) {
        index.remove(host, id);
        expected.delete(key);
      } else {
        index.put(sessionRecord({ host, sessionId: id, lastSeenAt: step }));
        expected.set(key, step);
      }
    }
    const all = index.all();
    expect(all.map((r) => `${r.host}/${r.sessionId}`)).toEqual([...expected.keys()].sort());
    for (const r of all) expect(r.lastSeenAt).toBe(expected.get(`${r.host}/${r.sessionId}`));
    expect(index.size).toBe(expected.size);
  });

  it("lists hosts", () => {
    expect(answerQuery(subjects.registryHostsList(), body(""), view())).toEqual({
      hosts: [hostRecord({ hostId: "h1", sessions: 2 })],
    });
  });

  it("answers bad requests with an error that names what is wrong", () => {
    const v = view();
    const err = (reply: unknown) => (reply as { error: { code: string; message: string } }).error;
    expect(err(list(v, "{not json"))).toEqual({ code: "invalid", message: "invalid request: the body is not JSON" });
    expect(err(list(v, { filter: { status: "running" } })).message).toMatch(
      /^invalid request: filter\.status: Invalid option: expected one of .*"idle"/,
    );
    expect(err(list(v, { filter: { hots: "h1" } })).message).toBe('invalid request: filter: Unrecognized key: "hots"');
    expect(err(list(v, { limit: 0 })).message).toMatch(/^invalid request: limit: Too small/);
    expect(err(list(v, { cursor: "garbage" })).message).toBe(
      "invalid request: cursor: cursor is not one this registry issued (pass the nextCursor of a previous reply)",
    );
    expect(err(list(v, [1, 2])).message).toMatch(/^invalid request: request: Invalid input: expected object/);
    expect(err(answerQuery(subjects.registrySessionsGet(), body({}), v)).message).toMatch(
      /^invalid request: sessionId: Invalid input/,
    );
    expect(err(answerQuery(subjects.registryHostsList(), body({ all: true }), v)).message).toBe(
      'invalid request: request: Unrecognized key: "all"',
    );
    expect(err(answerQuery("codex.registry.nope", body({}), v)).message).toBe(
      "unknown registry subject codex.registry.nope",
    );
  });
});
