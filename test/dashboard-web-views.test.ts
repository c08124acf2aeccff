/**
 * The dashboard page's pure view logic (services/dashboard/web/): broadcast's plan (matches listed before
 * sending, the bound), the transcript's pages, the audit view's query, the controls' result lines.
 */
import { describe, expect, it } from "vitest";
import type { SessionRow } from "../schemas/dashboard.js";
import { SessionRecord } from "../schemas/registry.js";
import { auditCells, auditQueryString, EMPTY_AUDIT_FORM } from "../services/dashboard/web/audit-query.js";
import { broadcastPlan, EMPTY_BROADCAST_FORM, formBound } from "../services/dashboard/web/broadcast-plan.js";
import { codexResumeCommand, launchResumeCommand, outcomeText } from "../services/dashboard/web/command-text.js";
import {
  NO_PAGES,
  olderCursor,
  parsePage,
  turnsOldestFirst,
  withFirstPage,
  withOlderPage,
} from "../services/dashboard/web/transcript-pages.js";

const row = (host: string, id: string, over: Partial<SessionRecord> = {}): SessionRow => ({
  key: `${host}.${id}`,
  shortId: id.slice(0, 8),
  revision: 1,
  writtenAtMs: 1,
  record: SessionRecord.parse({
    sessionId: id,
    endpointId: host,
    host,
    workspace: "/w",
    repo: "r1",
    branch: null,
    source: null,
    status: "idle",
    waitingOn: null,
    humanAttached: false,
    autonomous: true,
    activeTurnId: null,
    lastSeenAt: 1,
    summary: null,
    preview: null,
    group: null,
    disposition: null,
    ...over,
  }),
});

describe("broadcastPlan", () => {
  const fleet = [
    row("h1", "a1"),
    row("h1", "a2", { group: "g" }),
    row("h2", "b1", { group: "g", humanAttached: true, autonomous: false }),
    row("h2", "b2", { status: "active", waitingOn: "userInput" }),
  ];

  it("matches nothing and may not be sent without a filter", () => {
    const plan = broadcastPlan({ ...EMPTY_BROADCAST_FORM, maxTargets: "5", text: "hi" }, fleet);
    expect(plan.filterEmpty).toBe(true);
    expect(plan.matches).toEqual([]);
    expect(plan.args).toBeNull();
    expect(plan.blocked).toMatch(/filter/);
  });

  it("lists the live sessions the filter matches, with the registry's rule (group, presence, waiting)", () => {
    const keys = (form: Partial<typeof EMPTY_BROADCAST_FORM>) =>
      broadcastPlan({ ...EMPTY_BROADCAST_FORM, ...form }, fleet).matches.map((r) => r.key);
    expect(keys({ host: "h1" })).toEqual(["h1.a1", "h1.a2"]);
    expect(keys({ group: "g" })).toEqual(["h1.a2", "h2.b1"]);
    expect(keys({ group: "g", presence: "human" })).toEqual(["h2.b1"]);
    expect(keys({ waiting: "yes" })).toEqual(["h2.b2"]);
    expect(keys({ waiting: "no", host: "h2" })).toEqual(["h2.b1"]);
    expect(keys({ status: "active" })).toEqual(["h2.b2"]);
    expect(keys({ repo: "nope" })).toEqual([]);
  });

  it("needs the bound, and refuses to send when the matches exceed it", () => {
    const base = { ...EMPTY_BROADCAST_FORM, repo: "r1", text: "hello" };
    expect(broadcastPlan(base, fleet).blocked).toMatch(/bound/);
    const over = broadcastPlan({ ...base, maxTargets: "3" }, fleet);
    expect(over.matches).toHaveLength(4);
    expect(over.over).toBe(true);
    expect(over.args).toBeNull();
    expect(over.blocked).toMatch(/matches 4 sessions, over the bound of 3/);
    const ok = broadcastPlan({ ...base, maxTargets: "4" }, fleet);
    expect(ok.over).toBe(false);
    expect(ok.blocked).toBeNull();
    expect(ok.args).toEqual({ filter: { repo: "r1" }, maxTargets: 4, text: "hello", mode: "auto" });
  });

  it("needs text, and a whole bound within 1..100", () => {
    expect(broadcastPlan({ ...EMPTY_BROADCAST_FORM, host: "h1", maxTargets: "5" }, fleet).blocked).toMatch(/text/);
    expect(formBound("0")).toBeNull();
    expect(formBound("101")).toBeNull();
    expect(formBound("2.5")).toBeNull();
    expect(formBound(" 7 ")).toBe(7);
  });
});

describe("transcript pages", () => {
  const turn = (id: string, text = id) => ({
    id,
    status: "completed",
    startedAt: 1,
    completedAt: 2,
    messages: [{ role: "user" as const, text }],
  });

  it("shows every turn once, oldest first; a re-read page 1 replaces its turns and keeps older pages", () => {
    let s = withFirstPage(NO_PAGES, { turns: [turn("t4"), turn("t3")], nextCursor: "c1" });
    expect(olderCursor(s)).toBe("c1");
    s = withOlderPage(s, { turns: [turn("t2"), turn("t1")], nextCursor: null });
    expect(olderCursor(s)).toBeNull();
    expect(turnsOldestFirst(s).map((t) => t.id)).toEqual(["t1", "t2", "t3", "t4"]);
    // A new turn moved t3 out of page 1 in a fresh read; t4 changed.
    s = withFirstPage(s, { turns: [turn("t5"), turn("t4", "new text")], nextCursor: "c0" });
    expect(turnsOldestFirst(s).map((t) => t.id)).toEqual(["t1", "t2", "t4", "t5"]);
    expect(turnsOldestFirst(s).find((t) => t.id === "t4")?.messages[0]?.text).toBe("new text");
    s = withFirstPage(s, { turns: [turn("t5"), turn("t4"), turn("t3"), turn("t2")], nextCursor: "c9" });
    expect(turnsOldestFirst(s).map((t) => t.id)).toEqual(["t1", "t2", "t3", "t4", "t5"]);
  });

  it("refuses an answer that is not a page", () => {
    expect(parsePage({ turns: [], nextCursor: null }).ok).toBe(true);
    const bad = parsePage({ turns: "no" });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.message).toMatch(/not a transcript page/);
  });
});

describe("audit query", () => {
  it("sends only the given filters, times as unix ms", () => {
    expect(auditQueryString(EMPTY_AUDIT_FORM)).toEqual({ ok: true, query: "limit=100" });
    const q = auditQueryString({
      ...EMPTY_AUDIT_FORM,
      session: " s1 ",
      verb: "send",
      since: "2030-01-02T03:04:05",
    });
    expect(q.ok).toBe(true);
    const params = new URLSearchParams(q.ok ? q.query : "");
    expect(params.get("session")).toBe("s1");
    expect(params.get("verb")).toBe("send");
    expect(Number(params.get("since"))).toBe(new Date("2030-01-02T03:04:05").getTime());
    expect(params.has("caller")).toBe(false);
  });

  it("says what is wrong with the filters", () => {
    expect(auditQueryString({ ...EMPTY_AUDIT_FORM, since: "2030-01-02T00:00", until: "2030-01-01T00:00" })).toEqual({
      ok: false,
      message: "since is after until: nothing can match",
    });
    const bad = auditQueryString({ ...EMPTY_AUDIT_FORM, limit: "5000" });
    expect(bad.ok).toBe(false);
  });

  it("shows a decision, an outcome and an operator request", () => {
    const base = {
      atMs: 1,
      commandId: "c",
      verb: "send" as const,
      caller: { role: "operator" as const, id: "ann" },
      target: { hostId: "h", sessionId: "s" },
      decision: null,
      outcome: null,
      detail: null,
      by: "p",
    };
    expect(
      auditCells({
        ...base,
        kind: "decision",
        decision: { allow: false, code: "denied", reason: "viewer", ruleId: null },
      }),
    ).toMatchObject({ caller: "operator:ann", target: "h/s", outcome: "refused denied: viewer" });
    expect(auditCells({ ...base, kind: "result", outcome: { ok: true, code: null, message: null } }).outcome).toBe(
      "ok",
    );
    expect(
      auditCells({ ...base, kind: "admin", verb: null, target: null, detail: { request: "token.create" } }),
    ).toMatchObject({ verb: "token.create", target: "-" });
  });
});

describe("command results", () => {
  it("says what a command did, as the CLI does, or the failure's code and message", () => {
    expect(outcomeText("send", { ok: true, data: { action: "steered", turnId: "t1" } })).toBe("steered turn t1");
    expect(
      outcomeText("approve", {
        ok: true,
        data: { hostId: "h", sessionId: "s", requestId: "r", decision: "accept", summary: "echo 1" },
      }),
    ).toBe("h/s: request r approved (echo 1)");
    expect(outcomeText("mark", { ok: true, data: { hostId: "h", sessionId: "s", disposition: null } })).toBe(
      "h/s: mark cleared",
    );
    expect(outcomeText("assign", { ok: true, data: { hostId: "h", sessionId: "s", group: null } })).toBe(
      "h/s: group (none)",
    );
    expect(outcomeText("interrupt", { ok: false, code: "denied", message: "no rule" })).toBe("denied: no rule");
    expect(launchResumeCommand("t")).toBe("claw-supervisor launch --resume t");
    expect(codexResumeCommand("t")).toBe("codex resume --remote unix:// t");
  });
});
