/**
 * Spend in `claw-supervisor sessions` (issue 19): the TOKENS and COST columns (a footnote names the models with no
 * price), `--sort cost|tokens`, the summary fitted to the terminal, and budget changes in `--watch` lines. The
 * formatting is tested pure; the command in-process against a real nats-server with the registry's answers
 * scripted (records with usage: the registry's metering is another helper's part).
 */
import type { Msg, Subscription } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionUsage } from "../../schemas/budget.js";
import type { SessionRecord } from "../../schemas/registry.js";
import { useBus } from "../../test/support/bus.js";
import { subjects } from "../bus/index.js";
import { sessionRecord } from "../registry/test-records.js";
import { attentionReasons } from "../clients/attention.js";
import {
  attentionHint,
  budgetText,
  costText,
  formatSessionsTable,
  needsText,
  sortSessions,
  spendCells,
  tokensText,
  unpricedFootnote,
  unpricedModels,
} from "./format.js";
import { sessionChanges } from "./session-watch.js";
import { runCliInProcess } from "./test-cli.js";

const S1 = "0195cccc-1111-7000-8000-000000000001";
const S2 = "0195cccc-2222-7000-8000-000000000002";
const S3 = "0195cccc-3333-7000-8000-000000000003";

const tokens = (total: number) => ({ input: total - 100, cachedInput: 0, output: 100, reasoning: 0, total });
const usage = (total: number, costUsd: number | null, model = "gpt-5"): SessionUsage => ({
  model,
  tokens: tokens(total),
  costUsd,
  priced: costUsd !== null,
  days: {},
});
const rec = (sessionId: string, u: SessionUsage | null, over: Partial<SessionRecord> = {}) =>
  sessionRecord({ host: "h1", sessionId, usage: u, ...over });

describe("spend as the tables show it", () => {
  it("tokens in at most 5 characters, rounding up into the next unit", () => {
    expect(
      [0, 812, 999, 1000, 12_345, 99_949, 99_950, 123_456, 999_499, 999_500, 1_234_567, 45e6, 1.2e9].map(tokensText),
    ).toEqual(["0", "812", "999", "1k", "12.3k", "99.9k", "100k", "123k", "999k", "1M", "1.2M", "45M", "1.2B"]);
  });

  it("dollars with 4 decimals below a dollar, 2 below a thousand, none above; ? without a price", () => {
    expect([0, 0.00001, 0.0123, 0.99994, 1, 12.346, 999.99, 1234.5, null].map(costText)).toEqual([
      "$0",
      "<$0.0001",
      "$0.0123",
      "$0.9999",
      "$1.00",
      "$12.35",
      "$999.99",
      "$1235",
      "?",
    ]);
  });

  it("a session's cells: - before any usage, ? for a model with no price", () => {
    expect(spendCells(null)).toEqual(["-", "-"]);
    expect(spendCells(usage(12_345, 0.0123))).toEqual(["12.3k", "$0.0123"]);
    expect(spendCells(usage(500, null, "mystery"))).toEqual(["500", "?"]);
  });

  it("names the unpriced models under the table, and nothing when every spend is priced", () => {
    const sessions = [
      rec(S1, usage(10, null, "zeta")),
      rec(S2, usage(10, null, "alpha")),
      rec(S3, { ...usage(10, null), model: null }),
      rec("s4", usage(10, 0.1)),
      rec("s5", null),
      rec("s6", usage(0, null, "idle-model")),
    ];
    expect(unpricedModels(sessions)).toEqual(["alpha", "unknown model", "zeta"]);
    expect(unpricedFootnote(["alpha"])).toBe(
      "? no price for model alpha: tokens only (prices go in the policy document's budgets.prices)\n",
    );
    expect(unpricedFootnote(["alpha", "zeta"])).toMatch(/^\? no price for models alpha, zeta: /);
    expect(unpricedFootnote([])).toBe("");
  });

  it("sorts the biggest spender first: by dollars then unpriced by tokens then no usage; or by tokens", () => {
    const sessions = [
      rec("none", null),
      rec("cheap", usage(9_000, 0.01)),
      rec("unpriced-big", usage(50_000, null)),
      rec("dear", usage(1_000, 2.5)),
      rec("unpriced-small", usage(20, null)),
      rec("cheap-2", usage(8_000, 0.01)),
    ];
    const ids = (list: SessionRecord[]) => list.map((r) => r.sessionId);
    expect(ids(sortSessions(sessions, "cost"))).toEqual([
      "dear",
      "cheap",
      "cheap-2",
      "unpriced-big",
      "unpriced-small",
      "none",
    ]);
    expect(ids(sortSessions(sessions, "tokens"))).toEqual([
      "unpriced-big",
      "cheap",
      "cheap-2",
      "dear",
      "unpriced-small",
      "none",
    ]);
    // The input is left as it was.
    expect(sessions[0]?.sessionId).toBe("none");
  });

  it("puts TOKENS and COST before LAST SEEN, and MODEL before them in the wide table", () => {
    const r = rec(S1, usage(12_345, 0.0123), { model: "gpt-5", lastSeenAt: 0, summary: "fix the build" });
    const [header, row] = formatSessionsTable([r], 60_000).trimEnd().split("\n");
    expect(header).toMatch(
      /^HOST\s+SESSION\s+WORKSPACE\s+STATUS\s+NEEDS\s+GROUP\s+OWNER\s+TOKENS\s+COST\s+LAST SEEN\s+SUMMARY$/,
    );
    expect(row).toMatch(/\s-\s+-\s+12\.3k\s+\$0\.0123\s+1m ago\s+fix the build$/);
    const [wideHeader, wideRow] = formatSessionsTable([r], 60_000, { wide: true }).trimEnd().split("\n");
    expect(wideHeader).toMatch(/\s+OWNER\s+MODEL\s+TOKENS\s+COST\s+LAST SEEN\s+SUMMARY$/);
    expect(wideRow).toMatch(/\s+gpt-5\s+12\.3k\s+\$0\.0123\s+1m ago\s+fix the build$/);
  });

  it("cuts the summary so each row fits the terminal's width, keeping at least 16 characters of it", () => {
    const r = rec(S1, usage(1_000, 1), { summary: "a summary that goes on and on about what the session did" });
    const full = formatSessionsTable([r], 0).trimEnd().split("\n");
    const width = (full[1] as string).length - 20;
    const fitted = formatSessionsTable([r], 0, { maxWidth: width }).trimEnd().split("\n");
    expect(fitted.map((l) => l.length <= width)).toEqual([true, true]);
    expect(fitted[1]).toMatch(/a summary that goes on and on.*…$/);
    const narrow = formatSessionsTable([r], 0, { maxWidth: 20 }).trimEnd().split("\n");
    expect(narrow[1]).toMatch(/\sa summary that …$/);
  });

  it("shows a budget's stop in NEEDS, and in attention with the command that lifts it", () => {
    const b = {
      id: "daily:2026-12-03:h1.x",
      limitId: "daily",
      periodKey: "2026-12-03",
      reason: "over",
      by: "policy",
      atMs: 1,
    };
    const stopped = rec(S1, usage(10, 1), { budget: { ...b, state: "stopped", lifted: [] } });
    expect(needsText(stopped)).toBe("budget");
    expect(needsText({ ...stopped, budget: { ...b, state: "stopped", lifted: [b.id] } })).toBe("-");
    expect(needsText({ ...stopped, budget: { ...b, state: "warned", lifted: [] } })).toBe("-");
    const [reason] = attentionReasons(stopped);
    expect(reason?.needs).toBe("budget");
    expect(
      attentionHint({ host: "h1", sessionId: S1, shortId: "000000000001", workspace: null, reason: reason! }),
    ).toBe("budget lift h1/000000000001");
  });

  it("shows a budget state change in --watch lines", () => {
    const before = rec(S1, usage(10, 1));
    const b = {
      id: "daily:2026-12-03:h1.x",
      limitId: "daily",
      periodKey: "2026-12-03",
      reason: "over",
      by: "policy",
      atMs: 1,
    };
    const stopped = { ...before, budget: { ...b, state: "stopped" as const, lifted: [] } };
    expect(budgetText(stopped)).toBe("stopped by daily");
    expect(sessionChanges(before, stopped)).toEqual([
      { field: "needs", from: "-", to: "budget" },
      { field: "budget", from: "-", to: "stopped by daily" },
    ]);
    const warned = { ...before, budget: { ...b, state: "warned" as const, lifted: [] } };
    expect(sessionChanges(before, warned)).toEqual([{ field: "budget", from: "-", to: "warned by daily" }]);
    expect(budgetText({ ...stopped, budget: { ...stopped.budget, lifted: [b.id] } })).toBe("lifted (daily)");
    // Tokens alone change no watched field: a watch prints no line per turn's usage.
    expect(sessionChanges(before, { ...before, usage: usage(99, 2) })).toEqual([]);
  });
});

describe("claw-supervisor sessions: spend columns and --sort", () => {
  const bus = useBus();
  const cli = (...argv: string[]) => runCliInProcess(["sessions", ...argv, "--nats-url", bus.url], {});
  const listed = [
    rec(S1, usage(9_000, 0.01), { summary: "cheap" }),
    rec(S2, null, { summary: "new" }),
    rec(S3, usage(50_000, null, "mystery-1"), { summary: "unpriced" }),
    rec("0195cccc-4444-7000-8000-000000000004", usage(1_000, 2.5), { summary: "dear" }),
  ];
  const limits: number[] = [];
  let sub: Subscription;
  beforeAll(() => {
    // The registry's side, scripted: records with usage, in the registry's order, a page at a time.
    sub = bus.nc.subscribe(subjects.registrySessionsList(), {
      callback: (_err, msg: Msg) => {
        const req = msg.json() as { limit: number };
        limits.push(req.limit);
        const sessions = listed.slice(0, req.limit);
        msg.respond(JSON.stringify({ sessions, nextCursor: null, total: listed.length, shortIds: {} }));
      },
    });
  });
  afterAll(() => sub?.unsubscribe());

  it("shows tokens and cost, ? with a footnote for the unpriced model, - before any usage", async () => {
    const r = await cli();
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^HOST\s+SESSION\s+WORKSPACE\s+STATUS\s+NEEDS\s+GROUP\s+OWNER\s+TOKENS\s+COST\s+LAST SEEN\s+SUMMARY$/,
    );
    expect(lines.slice(1, 5)).toEqual([
      expect.stringMatching(/\s9k\s+\$0\.0100\s+.*\scheap$/),
      expect.stringMatching(/\s-\s+-\s+.*\snew$/),
      expect.stringMatching(/\s50k\s+\?\s+.*\sunpriced$/),
      expect.stringMatching(/\s1k\s+\$2\.50\s+.*\sdear$/),
    ]);
    expect(lines[5]).toBe(
      "? no price for model mystery-1: tokens only (prices go in the policy document's budgets.prices)",
    );
    // No footnote without headers (rows alone, for scripts).
    expect((await cli("--no-headers")).stdout.trimEnd().split("\n")).toHaveLength(4);
  });

  it("--sort cost and --sort tokens list the biggest spender first; with --limit, the N biggest of all", async () => {
    const order = async (...flags: string[]) =>
      (JSON.parse((await cli("--json", ...flags)).stdout).data.sessions as SessionRecord[]).map((s) => s.summary);
    expect(await order("--sort", "cost")).toEqual(["dear", "cheap", "unpriced", "new"]);
    expect(await order("--sort", "tokens")).toEqual(["unpriced", "cheap", "dear", "new"]);
    limits.length = 0;
    const top = await cli("--sort", "cost", "--limit", "1");
    expect(top.stdout).toMatch(/^HOST.*\n.*\sdear\nshowing 1 of 4 sessions\n$/);
    // Every session was asked for, not the registry's first one.
    expect(limits).toEqual([1000]);
    expect(await cli("--sort", "price")).toMatchObject({
      code: 2,
      stderr: "claw-supervisor sessions: --sort: must be cost or tokens\n",
    });
    expect(await cli("--sort", "cost", "--watch")).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--sort orders a one-time list"),
    });
    expect((await runCliInProcess(["sessions", "--help"])).stdout).toContain("--sort S        biggest spender first");
  });
});
