/**
 * `claw-supervisor attention` in-process against a real nats-server and a running registry: one row per reason
 * a session needs a person, oldest first, as a table and as JSON, with filters, and `--watch` lines.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SessionRecord } from "../../schemas/registry.js";
import { useBus } from "../../test/support/bus.js";
import { eventually } from "../../test/support/wait.js";
import { startRegistry, type Registry } from "../registry/registry.js";
import { FakeHost } from "../registry/test-fleet.js";
import { sessionRecord } from "../registry/test-records.js";
import { attentionRows } from "./attention.js";
import { formatAttentionTable } from "./format.js";
import { runCliInProcess, startCliInProcess } from "./test-cli.js";

const id = (n: number): string => `0195aaaa-${n}000-7000-8000-00000000000${n}`;
const QUIET = id(1);
const APPROVAL = id(2);
const INPUT = id(3);
const ASK = id(4);
const HANDOFF = id(5);
const FAILED = id(6);
const UNKNOWN = id(7);
const DONE = id(8);

describe("claw-supervisor attention", () => {
  const bus = useBus({ ensure: true });
  let registry: Registry;
  let host: FakeHost;
  let other: FakeHost;
  const cli = (argv: string[]) => runCliInProcess([...argv, "--nats-url", bus.url], {});

  beforeAll(async () => {
    registry = await startRegistry({
      nc: bus.nc,
      sweepIntervalMs: 60_000,
      degradedAfterMs: 60_000,
      offlineAfterMs: 60_000,
      staleAfterMs: 60_000,
    });
    host = new FakeHost(bus, "devbox");
    other = new FakeHost(bus, "laptop");
    host.nowMs = Date.now() - 60 * 60_000;
    other.nowMs = Date.now() - 60 * 60_000;
    const annotate = (h: FakeHost, thread: string, payload: unknown) =>
      h.publish(h.envelope(thread, "agent/annotation", payload));
    await host.synced(QUIET);
    host.nowMs += 60_000;
    await host.synced(APPROVAL, {
      status: { type: "active", activeFlags: ["waitingOnApproval"] },
      humanAttached: true,
    });
    host.nowMs += 60_000;
    await host.synced(INPUT, { status: { type: "active", activeFlags: ["waitingOnUserInput"] }, autonomous: true });
    host.nowMs += 60_000;
    await host.synced(ASK, { workspace: "/home/me/docs" });
    await annotate(host, ASK, {
      kind: "ask",
      ask: { correlationId: "ask-7", kind: "decision", question: "merge or rebase?", atMs: host.nowMs },
    });
    host.nowMs += 60_000;
    await other.synced(HANDOFF);
    await annotate(other, HANDOFF, {
      kind: "handoff",
      handoff: { to: { kind: "human", who: "erin" }, note: "needs the DB password", by: "claw", atMs: host.nowMs },
    });
    await annotate(other, HANDOFF, { kind: "assign", group: "ops", owner: "sam" });
    host.nowMs += 60_000;
    await host.synced(FAILED, { status: { type: "systemError" } });
    host.nowMs += 60_000;
    await host.delta(UNKNOWN, "t1"); // never synced: its status is unknown
    await host.synced(DONE, { status: { type: "systemError" } });
    await annotate(host, DONE, { kind: "mark", disposition: "done" }); // finished: its error needs nobody
    await eventually(async () => expect(JSON.parse((await cli(["sessions", "--json"])).stdout).data.total).toBe(8));
  });
  afterAll(() => registry?.stop());

  it("lists one row per reason, oldest first, as a table", async () => {
    const r = await cli(["attention"]);
    expect(r).toMatchObject({ code: 0, stderr: "" });
    const lines = r.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^SINCE\s+NEEDS\s+SESSION\s+WORKSPACE\s+DETAIL$/);
    // Short ids are unique among the sessions listed: these ids share 8 hex digits of their last group.
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(
        /^(?:59|58)m ago\s+approval\s+devbox\/000000000002\s+\S+\s+an approval at the person's TUI$/,
      ),
      expect.stringMatching(/^(?:58|57)m ago\s+input\s+devbox\/000000000003\s+\S+\s+input$/),
      expect.stringMatching(
        /^(?:57|56)m ago\s+ask\s+devbox\/000000000004\s+\/home\/me\/docs\s+decision: merge or rebase\? -> reply devbox\/000000000004 --correlation ask-7 <answer>$/,
      ),
      expect.stringMatching(
        /^(?:56|55)m ago\s+handoff\s+laptop\/000000000005\s+\S+\s+to a person \(erin\) by claw: needs the DB password$/,
      ),
      expect.stringMatching(/^(?:55|54)m ago\s+error\s+devbox\/000000000006\s+\S+\s+the session failed$/),
      expect.stringMatching(/^(?:54|53)m ago\s+stale\s+devbox\/000000000007\s+-\s+status unknown$/),
    ]);
  });

  it("prints {ok,data:{items}} with --json, and filters by host, group and owner", async () => {
    const r = await cli(["attention", "-o", "json"]);
    expect(r.code).toBe(0);
    const { items } = JSON.parse(r.stdout).data as { items: Record<string, unknown>[] };
    expect(items.map((i) => [i.needs, i.sessionId])).toEqual([
      ["approval", APPROVAL],
      ["input", INPUT],
      ["ask", ASK],
      ["handoff", HANDOFF],
      ["error", FAILED],
      ["stale", UNKNOWN],
    ]);
    expect(items[2]).toEqual({
      needs: "ask",
      at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
      host: "devbox",
      sessionId: ASK,
      shortId: expect.any(String),
      workspace: "/home/me/docs",
      detail: "decision: merge or rebase?",
      correlationId: "ask-7",
      hint: expect.stringMatching(/^reply devbox\/\S+ --correlation ask-7 <answer>$/),
    });
    const needsOf = async (...flags: string[]) =>
      (JSON.parse((await cli(["attention", "--json", ...flags])).stdout).data.items as { needs: string }[]).map(
        (i) => i.needs,
      );
    expect(await needsOf("--host", "laptop")).toEqual(["handoff"]);
    expect(await needsOf("--group", "ops")).toEqual(["handoff"]);
    expect(await needsOf("--owner", "sam", "--host", "devbox")).toEqual([]);
    expect((await cli(["attention", "--owner", "nobody"])).stdout).toBe("nothing needs a person\n");
    expect((await cli(["attention", "--no-headers", "--host", "laptop"])).stdout).toMatch(/^56m ago\s+handoff\s/);
    expect((await cli(["attention", "-o", "wide"])).code).toBe(2);
  });

  it("--watch prints a line when a reason comes and when it clears", async () => {
    const watching = startCliInProcess(["attention", "--watch", "--host", "laptop", "--nats-url", bus.url]);
    await eventually(() => expect(watching.stdout()).toMatch(/^SINCE.*\n.*handoff.*\n$/));
    const before = watching.stdout().length;
    await other.publish(
      other.envelope(HANDOFF, "agent/annotation", {
        kind: "ask",
        ask: { correlationId: "ask-9", kind: "help", question: "which DB?", atMs: other.nowMs },
      }),
    );
    // The short id is unique in the fleet (the devbox sessions share its first 11 digits), not only on laptop.
    await eventually(() =>
      expect(watching.stdout().slice(before)).toMatch(
        /^\S+ ago\s+ask\s+laptop\/000000000005\s+.*which DB\?.*\(new\)\n$/,
      ),
    );
    const after = watching.stdout().length;
    await other.publish(other.envelope(HANDOFF, "agent/annotation", { kind: "mark", disposition: "done" }));
    await eventually(() =>
      expect(watching.stdout().slice(after)).toMatch(/^56m ago\s+handoff\s+laptop\/000000000005\s+.*\(cleared\)\n$/),
    );
    watching.stop();
    expect(await watching.exited).toBe(0);
    expect(watching.stderr()).toBe("");
  });
});

describe("attention rows", () => {
  it("shows a held approval with its deadline and the approve/decline command", () => {
    const now = 1_000_000;
    const held = sessionRecord({
      host: "h1",
      sessionId: "01a236ac-1234-7abc-8def-0123456789ab",
      status: "active",
      waitingOn: "approval",
      approval: {
        requestId: "42",
        kind: "command",
        summary: "npm publish",
        atMs: now - 120_000,
        deadlineAtMs: now + 480_000,
      },
    });
    const stale: SessionRecord = {
      ...held,
      sessionId: "s2",
      status: "stale",
      waitingOn: null,
      approval: null,
      lastSeenAt: now - 600_000,
    };
    const rows = attentionRows([held, stale]);
    expect(rows.map((r) => r.reason.needs)).toEqual(["stale", "approval"]);
    expect(formatAttentionTable(rows, now)).toBe(
      [
        "SINCE    NEEDS     SESSION      WORKSPACE   DETAIL",
        "10m ago  stale     h1/s2        /work/repo  status stale",
        "2m ago   approval  h1/01234567  /work/repo  command: npm publish (declined in 8m) -> approve/decline h1/01234567 42",
        "",
      ].join("\n"),
    );
  });
});
