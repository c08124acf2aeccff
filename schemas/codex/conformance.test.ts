import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkConformance, formatDrifts } from "./conformance.js";
import { codexBinPath } from "../../test/support/codex-bin.js";

type Json = Record<string, any>;

/** Generates the protocol's JSON schema with the pinned codex binary, once for the file. */
let bundle: Json;
let outDir: string;
beforeAll(() => {
  outDir = mkdtempSync(path.join(tmpdir(), "codex-schema-"));
  execFileSync(codexBinPath(), ["app-server", "generate-json-schema", "--out", outDir], { stdio: "pipe" });
  bundle = JSON.parse(readFileSync(path.join(outDir, "codex_app_server_protocol.schemas.json"), "utf8"));
});
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

const copy = (): Json => structuredClone(bundle);

describe("conformance with the pinned codex binary", () => {
  it("every method, notification, server request and field we rely on exists with a compatible type", () => {
    const drifts = checkConformance(bundle);
    expect(drifts, `schemas drifted from codex:\n${formatDrifts(drifts)}`).toEqual([]);
  });

  it("names a relied-on field removed from the generated schema", () => {
    const broken = copy();
    const turn = broken.definitions.v2.Turn;
    delete turn.properties.status;
    turn.required = turn.required.filter((f: string) => f !== "status");
    const report = formatDrifts(checkConformance(broken));
    expect(report).toContain("turn/start result.turn.status: field is missing from codex's schema");
    expect(report).toContain("turn/completed params.turn.status: field is missing from codex's schema");
  });

  it("names a method that disappeared", () => {
    const broken = copy();
    const union = broken.definitions.ClientRequest;
    union.oneOf = union.oneOf.filter((v: Json) => v.properties.method.enum[0] !== "turn/steer");
    expect(checkConformance(broken)).toContainEqual({
      path: "turn/steer",
      problem: "method is not in codex's ClientRequest union",
    });
  });

  it("names a changed type, a new enum value and a newly required param", () => {
    const broken = copy();
    const v2 = broken.definitions.v2;
    v2.Thread.properties.ephemeral = { type: "string" };
    v2.TurnStatus.enum.push("paused");
    v2.TurnSteerParams.required.push("priority");
    v2.TurnSteerParams.properties.priority = { type: "integer" };
    const report = formatDrifts(checkConformance(broken));
    expect(report).toContain("thread/start result.thread.ephemeral: type changed: we expect boolean, codex has string");
    expect(report).toContain('turn/start result.turn.status: codex may send "paused", which our enum rejects');
    expect(report).toContain("turn/steer params.priority: codex requires this field and we may omit it");
  });

  it("names a notification whose relied-on field became optional", () => {
    const broken = copy();
    const n =
      broken.definitions.v2.ThreadStatusChangedNotification ?? broken.definitions.ThreadStatusChangedNotification;
    n.required = n.required.filter((f: string) => f !== "threadId");
    expect(formatDrifts(checkConformance(broken))).toContain(
      "thread/status/changed params.threadId: codex marks this field optional and our schema requires it",
    );
  });

  it("covers token usage and the thread's model (issue 19): a renamed count or a model that became a number drifts", () => {
    const broken = copy();
    const v2 = broken.definitions.v2;
    const breakdown = v2.TokenUsageBreakdown;
    breakdown.properties.cachedTokens = breakdown.properties.cachedInputTokens;
    delete breakdown.properties.cachedInputTokens;
    breakdown.required = breakdown.required.map((f: string) => (f === "cachedInputTokens" ? "cachedTokens" : f));
    v2.Thread.properties.model = { type: ["integer", "null"] };
    const report = formatDrifts(checkConformance(broken));
    expect(report).toContain(
      "thread/tokenUsage/updated params.tokenUsage.total.cachedInputTokens: field is missing from codex's schema",
    );
    expect(report).toContain(
      "thread/tokenUsage/updated params.tokenUsage.last.cachedInputTokens: field is missing from codex's schema",
    );
    expect(report).toContain("thread/started params.thread.model: type changed: we expect string, codex has number");
  });
});
