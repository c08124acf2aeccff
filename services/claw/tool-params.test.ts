/** The fleet tools' closed lists accept exactly what their zod schemas in `schemas/` accept. */
import { readFileSync } from "node:fs";
import { Value } from "typebox/value";
import { describe, expect, it } from "vitest";
import { BudgetArgs } from "../../schemas/budget.js";
import { SendMode } from "../../schemas/commands.js";
import { Disposition, SessionStatus } from "../../schemas/registry.js";
import * as P from "./tool-params.js";

const junk: unknown[] = ["", "IDLE", "none ", "waiting", "approval", 0, null, true, ["idle"], { status: "idle" }];

describe("fleet tool params derived from zod", () => {
  it("accept every session status and refuse anything else, in fleet_sessions, fleet_broadcast and fleet_summarize", () => {
    for (const params of [P.SessionsParams, P.BroadcastParams, P.SummarizeParams]) {
      const base = params === P.BroadcastParams ? { text: "hi", maxTargets: 1 } : {};
      for (const status of [...SessionStatus.options, ...junk]) {
        expect(Value.Check(params, { ...base, status }), String(status)).toBe(SessionStatus.safeParse(status).success);
      }
    }
  });

  it("accept every send mode and refuse anything else, in fleet_send and fleet_broadcast", () => {
    for (const mode of [...SendMode.options, ...junk]) {
      const zod = SendMode.safeParse(mode).success;
      expect(Value.Check(P.SendParams, { sessionId: "t", text: "hi", mode }), String(mode)).toBe(zod);
      expect(Value.Check(P.BroadcastParams, { text: "hi", maxTargets: 1, mode }), String(mode)).toBe(zod);
    }
  });

  it("accept every disposition and none (which clears the mark), and refuse anything else, in fleet_mark", () => {
    for (const disposition of [...Disposition.options, "none", ...junk]) {
      const zod = disposition === "none" || Disposition.safeParse(disposition).success;
      expect(Value.Check(P.MarkParams, { sessionId: "t", disposition }), String(disposition)).toBe(zod);
    }
  });

  it("accept in fleet_budget exactly the days and groups the budget verb accepts", () => {
    for (const day of ["2026-12-03", "2026-1-3", "3 Dec", "2026-12-03T00:00:00Z", "", 20261203, null]) {
      const zod = BudgetArgs.safeParse({ day }).success;
      expect(Value.Check(P.BudgetParams, { day }), String(day)).toBe(zod);
    }
    for (const group of ["app", "x".repeat(200), "x".repeat(201), "", 1, null]) {
      const zod = BudgetArgs.safeParse({ group }).success;
      expect(Value.Check(P.BudgetParams, { group }), String(group)).toBe(zod);
    }
  });

  it("list the values in the zod schemas' order, as the model reads them", () => {
    const consts = (schema: unknown) => (schema as { anyOf: { const: string }[] }).anyOf.map((s) => s.const);
    expect(consts(P.SessionsParams.properties.status)).toEqual(SessionStatus.options);
    expect(consts(P.SendParams.properties.mode)).toEqual(SendMode.options);
    expect(consts(P.MarkParams.properties.disposition)).toEqual([...Disposition.options, "none"]);
  });
});

describe("fleet tool params as OpenClaw receives them", () => {
  it("are the JSON Schemas the hand-written TypeBox params gave before they were derived from zod", () => {
    // tool-params.schema.json was written from the params before the derivation (issue 13); a change here changes
    // what the Claw's model is offered, so it must be deliberate: regenerate the file and say why in the commit.
    const pinned = JSON.parse(readFileSync(new URL("./tool-params.schema.json", import.meta.url), "utf8"));
    const current = Object.fromEntries(
      Object.entries(P).map(([name, params]) => [name, JSON.parse(JSON.stringify(params))]),
    );
    expect(current).toEqual(pinned);
  });
});
