/**
 * `claw-supervisor budget` and `budget lift` (issue 19), and `budget_exceeded` from send, reply and spawn (exit
 * 12). The report's text is tested pure; the commands in-process against a real nats-server and registry, with
 * the policy service's side scripted on `codex.cmd.<verb>` (its budget verbs are the policy helper's; this checks
 * what the CLI sends and prints).
 */
import type { Msg, Subscription } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BudgetReport } from "../../schemas/budget.js";
import { CommandEnvelope, type CommandResult, failure } from "../../schemas/commands.js";
import { useBus } from "../../test/support/bus.js";
import { eventually } from "../../test/support/wait.js";
import { subjects } from "../bus/index.js";
import { startRegistry, type Registry } from "../registry/registry.js";
import { FakeHost } from "../registry/test-fleet.js";
import { budgetReportText, groupCostText, liftText, limitCells, scopeText } from "./budget.js";
import { EXIT_CODES } from "./io.js";
import { runCliInProcess } from "./test-cli.js";
import { TURN_EXIT_CODES, WAIT_STOPPED_EXIT_CODE } from "./turn-wait.js";

const S1 = "0195cccc-1111-7000-8000-000000000001";
const S2 = "0195cccc-2222-7000-8000-000000000002";

const report: BudgetReport = {
  day: "2026-12-03",
  limits: [
    {
      limitId: "app-daily",
      scope: "group",
      scopeKey: "app",
      period: "day",
      periodKey: "2026-12-03",
      tokens: 812_000,
      costUsd: 4.12,
      maxTokens: 1_000_000,
      maxCostUsd: 5,
      fraction: 0.824,
      state: "warning",
      sessions: 2,
    },
    {
      limitId: "per-session",
      scope: "session",
      scopeKey: `h1.${S1}`,
      period: "total",
      periodKey: "total",
      tokens: 1_200_000,
      costUsd: null,
      maxTokens: 1_000_000,
      maxCostUsd: null,
      fraction: 1.2,
      state: "over",
      sessions: 1,
    },
  ],
  groups: [
    { group: "app", day: "2026-12-03", tokens: 1_200_000, costUsd: 4.12, unpriced: true, sessions: 2 },
    { group: "", day: "2026-12-03", tokens: 12_000, costUsd: 0.01, unpriced: false, sessions: 1 },
  ],
  stopped: [{ hostId: "h1", sessionId: S1, reason: "per-session: 1.2M tokens of 1M (total)" }],
  unpricedModels: ["mystery-1"],
};

describe("the budget report as text", () => {
  it("a limit's row: scope, use against each max, share and state", () => {
    expect(limitCells(report.limits[0]!)).toEqual([
      "app-daily",
      "group app",
      "2026-12-03",
      "812k / 1M",
      "$4.12 / $5.00",
      "82%",
      "warning",
    ]);
    expect(limitCells(report.limits[1]!)).toEqual([
      "per-session",
      "session h1/000000000001",
      "total",
      "1.2M / 1M",
      "-",
      "120%",
      "over",
    ]);
    expect(scopeText({ scope: "group", scopeKey: "" })).toBe("group (none)");
    expect(limitCells({ ...report.limits[0]!, costUsd: null })[4]).toBe("? / $5.00");
    expect(groupCostText({ costUsd: 0, unpriced: true })).toBe("?");
    expect(groupCostText({ costUsd: 4.12, unpriced: true })).toBe("$4.12+?");
    expect(groupCostText({ costUsd: 0, unpriced: false })).toBe("$0");
  });

  it("prints the limits, the day's spend by group, the stopped sessions and the unpriced models", () => {
    const lines = budgetReportText(report).split("\n");
    expect(lines[0]).toBe("Budgets (use in each limit's period; spend by group below is of 2026-12-03):");
    expect(lines[1]).toMatch(/^LIMIT\s+SCOPE\s+PERIOD\s+TOKENS\s+COST\s+USE\s+STATE$/);
    expect(lines[2]).toMatch(/^app-daily\s+group app\s+2026-12-03\s+812k \/ 1M\s+\$4\.12 \/ \$5\.00\s+82%\s+warning$/);
    expect(lines[3]).toMatch(/^per-session\s+session h1\/000000000001\s+total\s+1\.2M \/ 1M\s+-\s+120%\s+over$/);
    expect(lines[5]).toBe("Spend on 2026-12-03 (UTC): 1.2M tokens, $4.13+?, 3 sessions");
    expect(lines[6]).toMatch(/^GROUP\s+SESSIONS\s+TOKENS\s+COST$/);
    expect(lines[7]).toMatch(/^app\s+2\s+1\.2M\s+\$4\.12\+\?$/);
    expect(lines[8]).toMatch(/^\(none\)\s+1\s+12k\s+\$0\.0100$/);
    expect(lines.slice(10)).toEqual([
      "Stopped by a budget (1): send, reply and spawn refused until 'claw-supervisor budget lift <session>'",
      "  h1/000000000001  per-session: 1.2M tokens of 1M (total)",
      "",
      "? no price for model mystery-1: their spend counts in tokens only (prices go in the policy document's budgets.prices)",
      "",
    ]);
  });

  it("says so when nothing is used, and prints rows alone without headers", () => {
    const empty: BudgetReport = { day: "2026-12-03", limits: [], groups: [], stopped: [], unpricedModels: [] };
    expect(budgetReportText(empty)).toBe(
      "No limit has any use (or the policy sets none: budgets.limits).\n\nNo spend on 2026-12-03 (UTC).\n",
    );
    expect(budgetReportText(empty, false)).toBe("");
    const rows = budgetReportText(report, false).trimEnd().split("\n");
    expect(rows).toHaveLength(5);
    expect(rows[0]).toMatch(/^app-daily\s/);
    expect(rows[2]).toMatch(/^app\s+2\s/);
    expect(rows[4]).toBe(`h1/000000000001\tper-session: 1.2M tokens of 1M (total)`);
    expect(liftText({ hostId: "h1", sessionId: S1, lifted: "per-session:total:h1.x" })).toBe(
      "h1/000000000001: lifted budget stop per-session:total:h1.x; send, reply and spawn reach it again (audited)\n",
    );
  });
});

describe("exit codes", () => {
  it("budget_exceeded has a code of its own, apart from every other typed failure and a waited-for turn's outcomes", () => {
    expect(EXIT_CODES.budget_exceeded).toBe(12);
    const all = [0, 1, 2, ...Object.values(EXIT_CODES), ...Object.values(TURN_EXIT_CODES), WAIT_STOPPED_EXIT_CODE];
    expect(new Set(all).size).toBe(all.length);
  });
});

describe("claw-supervisor budget, budget lift, and budget_exceeded", () => {
  const bus = useBus({ ensure: true });
  let registry: Registry;
  const cli = (...argv: string[]) => runCliInProcess([...argv, "--nats-url", bus.url], { USER: "tester" });
  /** What the scripted policy service answers each verb, and what it was sent. */
  const answers = new Map<string, (args: Record<string, unknown>) => CommandResult>();
  const received: CommandEnvelope[] = [];
  let sub: Subscription;

  beforeAll(async () => {
    registry = await startRegistry({ nc: bus.nc, sweepIntervalMs: 60_000 });
    const host = new FakeHost(bus, "h1");
    await host.lifecycle("connected");
    await host.synced(S1, { repo: "app" });
    await host.synced(S2, { repo: "app" });
    await eventually(async () => expect(JSON.parse((await cli("sessions", "--json")).stdout).data.total).toBe(2));
    sub = bus.nc.subscribe(`${subjects.command("budget").replace(/\.budget$/, "")}.*`, {
      callback: (_err, msg: Msg) => {
        const env = CommandEnvelope.parse(msg.json());
        received.push(env);
        const answer = answers.get(env.verb);
        msg.respond(
          JSON.stringify(
            answer ? answer(env.args as Record<string, unknown>) : failure("invalid", `no script for ${env.verb}`),
          ),
        );
      },
    });
  });
  afterAll(async () => {
    sub?.unsubscribe();
    await registry?.stop();
  });
  const last = () => received.at(-1) as CommandEnvelope;

  it("has --help, refuses bad usage with exit 2 before sending anything, and is suggested for a typo", async () => {
    const help = await runCliInProcess(["budget", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: claw-supervisor budget \[--group G\] \[--day YYYY-MM-DD\]/);
    expect(help.stdout).toContain("budget lift <session>");
    expect(help.stdout).toContain("12 budget_exceeded");
    const before = received.length;
    const refusals: [string[], string][] = [
      [["budget", "lfit", "s1"], "unknown budget action 'lfit' (did you mean 'lift'?)"],
      [["budget", "--day", "3 Dec"], "--day: day is YYYY-MM-DD"],
      [["budget", "--day", "2026-02-30"], "--day: day is not a date in the calendar"],
      [["budget", "--limit", "x"], "--limit applies to 'budget lift' only"],
      [["budget", "lift", "s1", "--group", "g"], "--group applies to 'budget' only"],
      [["budget", "lift"], "budget lift needs a session"],
      [["budget", "lift", "a", "b"], "budget lift takes one session, got 'b' too"],
      [["budget", "lift", "s1", "--limit", "x".repeat(64)], "invalid budget lift arguments: limitId"],
      [["budget", "-o", "yaml"], "--output: must be json"],
    ];
    for (const [argv, message] of refusals) {
      const r = await cli(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 2 });
      expect(r.stderr).toContain(message);
    }
    expect(received.length).toBe(before);
    const typo = await runCliInProcess(["budgte"]);
    expect(typo).toMatchObject({ code: 2, stderr: expect.stringContaining("did you mean 'budget'?") });
    expect((await runCliInProcess(["--help"])).stdout).toMatch(/\n {2}budget +spend against the budgets/);
  });

  it("completes budget, its lift action and its options", async () => {
    const zsh = (await runCliInProcess(["completion", "zsh"])).stdout;
    expect(zsh).toMatch(/ {4}budget\)\n {6}options=\(.*--group --day --limit.*\)\n {6}actions=\(lift\)/);
    expect((await runCliInProcess(["completion", "bash"])).stdout).toMatch(/ {4}sessions\)\n {6}options='[^']*--sort /);
  });

  it("asks the policy service as the operator and prints the report, as text and as JSON", async () => {
    answers.set("budget", () => ({ ok: true, data: report }));
    const text = await cli("budget", "--group", "app", "--day", "2026-12-03", "--caller", "ops@desk");
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe(budgetReportText(report));
    expect(last()).toMatchObject({
      verb: "budget",
      caller: { id: "ops@desk", role: "operator" },
      args: { group: "app", day: "2026-12-03" },
    });
    const json = await cli("budget", "--json");
    expect(JSON.parse(json.stdout)).toEqual({ ok: true, data: report });
    expect(last()).toMatchObject({ verb: "budget", caller: { id: expect.stringMatching(/^tester@/) }, args: {} });
    expect((await cli("budget", "--no-headers")).stdout).toBe(budgetReportText(report, false));
    // An answer that is not a report is said to be so.
    answers.set("budget", () => ({ ok: true, data: { day: "today" } }));
    expect(await cli("budget")).toMatchObject({
      code: 1,
      stderr: "claw-supervisor budget: the policy service's answer to budget is not a budget report\n",
    });
    // A refusal is its typed code, as every verb's.
    answers.set("budget", () => failure("invalid", "budget is not built yet"));
    const refused = await cli("budget", "--json");
    expect(refused.code).toBe(EXIT_CODES.invalid);
    expect(refused.stderr).toBe("claw-supervisor budget: invalid: budget is not built yet\n");
    expect(JSON.parse(refused.stdout)).toMatchObject({ ok: false, code: "invalid" });
  });

  it("budget lift resolves the session like every verb and prints what it lifted", async () => {
    answers.set("budget-lift", (args) => {
      const t = args.target as { hostId: string; sessionId: string };
      return {
        ok: true,
        data: {
          hostId: t.hostId,
          sessionId: t.sessionId,
          lifted: `${String(args.limitId ?? "per-session")}:total:h1.${t.sessionId}`,
        },
      };
    });
    const r = await cli("budget", "lift", "000000000001", "--key", "lift-key-1");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(
      `h1/000000000001: lifted budget stop per-session:total:h1.${S1}; send, reply and spawn reach it again (audited)\n`,
    );
    expect(last()).toMatchObject({
      verb: "budget-lift",
      caller: { role: "operator", id: expect.stringMatching(/^tester@/) },
      idempotencyKey: "lift-key-1",
      args: { target: { hostId: "h1", sessionId: S1 } },
    });
    const json = await cli("budget", "lift", "h1/0195cccc-2222", "--limit", "app-daily", "--json");
    expect(JSON.parse(json.stdout)).toEqual({
      ok: true,
      data: { hostId: "h1", sessionId: S2, lifted: `app-daily:total:h1.${S2}` },
    });
    expect(last().args).toEqual({ target: { hostId: "h1", sessionId: S2 }, limitId: "app-daily" });

    const before = received.length;
    const missing = await cli("budget", "lift", "ffffffffffff");
    expect(missing).toMatchObject({
      code: 4,
      stderr: "claw-supervisor budget lift: not_found: no session matches 'ffffffffffff'\n",
    });
    const ambiguous = await cli("budget", "lift", "0195cccc");
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.stderr).toMatch(/^claw-supervisor budget lift: ambiguous: '0195cccc' matches 2 sessions/);
    expect(received.length).toBe(before);

    answers.set("budget-lift", () => failure("conflict", "session h1/x is not stopped by a budget"));
    expect(await cli("budget", "lift", "000000000001")).toMatchObject({
      code: EXIT_CODES.conflict,
      stderr: "claw-supervisor budget lift: conflict: session h1/x is not stopped by a budget\n",
    });
    answers.set("budget-lift", () => failure("denied", "no policy rule lets role 'operator' budget"));
    expect((await cli("budget", "lift", "000000000001")).code).toBe(EXIT_CODES.denied);
  });

  it("send, reply and spawn refused by a budget print why and exit 12, with --wait too", async () => {
    const message =
      "per-session: 1.2M tokens of 1M (total); an operator can lift it with 'claw-supervisor budget lift h1/000000000001'";
    for (const verb of ["send", "reply", "spawn"]) answers.set(verb, () => failure("budget_exceeded", message));
    const cases: [string, string[]][] = [
      ["send", ["send", "000000000001", "go", "on"]],
      ["send", ["send", "000000000001", "go", "--wait"]],
      ["reply", ["reply", "000000000001", "yes"]],
      ["spawn", ["spawn", "more", "work", "--cwd", "/work/app", "--group", "app"]],
      ["spawn", ["spawn", "more", "--cwd", "/work/app", "--wait"]],
    ];
    for (const [verb, argv] of cases) {
      const r = await cli(...argv);
      expect({ argv, code: r.code }).toEqual({ argv, code: 12 });
      expect(r.stderr).toBe(`claw-supervisor ${verb}: budget_exceeded: ${message}\n`);
      expect(r.stdout).toBe("");
    }
    const json = await cli("send", "000000000001", "go", "--json");
    expect(json.code).toBe(12);
    expect(JSON.parse(json.stdout)).toEqual({ ok: false, code: "budget_exceeded", message, retryable: false });
  });
});
