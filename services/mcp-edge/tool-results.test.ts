/** The edge's advice after a denial follows the denial's reason code, never the wording of its message. */
import { describe, expect, it } from "vitest";
import { CommandResult, denial, failure } from "../../schemas/commands.js";
import { adviceFor, commandError } from "./tool-results.js";

const GATED = /disabled unless a trusted policy rule enables them/;

describe("adviceFor a denial", () => {
  it("points to the policy rule a gated verb lacks when the reason is no_rule, whatever the message says", () => {
    expect(adviceFor("send", denial("no_rule", "reworded: nothing grants this"))).toMatch(GATED);
    expect(adviceFor("read", denial("no_rule", "x"))).toMatch(GATED);
  });

  it("gives the general advice for other reasons, for verbs that are not gated, and for a reason-less denial", () => {
    expect(adviceFor("send", denial("loop", "loop prevention (hops): no policy rule would help"))).not.toMatch(GATED);
    expect(adviceFor("progress", denial("no_rule", "x"))).not.toMatch(GATED);
    // An older policy service sends no reason: its denial still parses, and gets the general advice.
    const old = CommandResult.parse(failure("denied", "no policy rule lets role 'session' send to session s"));
    expect(old.ok === false && adviceFor("send", old)).toMatch(/^Do not retry/);
  });

  it("keeps the reason on the wire: a denial with a code parses, an unknown code does not", () => {
    expect(CommandResult.parse(denial("over_bound", "too many"))).toMatchObject({
      code: "denied",
      reason: "over_bound",
    });
    expect(CommandResult.safeParse({ ...denial("loop", "x"), reason: "because" }).success).toBe(false);
  });
});

describe("adviceFor budget_exceeded", () => {
  it("names what the budget stopped (the peer a send targets, the group a spawn would join) and says not to retry", () => {
    const stopped = failure("budget_exceeded", "per-session: 1.2M tokens of 1M (total)");
    expect(adviceFor("send", stopped)).toBe(
      "A budget stopped that session; do not retry: it stays stopped until an operator lifts it (claw-supervisor budget lift). Tell the Claw with claw_ask if the work must go on.",
    );
    expect(adviceFor("spawn", stopped)).toMatch(/^A budget stopped new sessions in that group; do not retry/);
    expect(commandError("send", stopped)).toEqual({
      content: [{ type: "text", text: `budget_exceeded: ${stopped.message}. ${adviceFor("send", stopped)}` }],
      isError: true,
    });
  });
});
