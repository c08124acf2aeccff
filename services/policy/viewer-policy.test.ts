// Role viewer through the real policy service (the policy rig: nats-server, registry, gateway, a host agent): a
// viewer's send is refused even under a rule that grants every role send, nothing reaches the host, and the
// refusal is audited like any decision; a viewer's list and summary read go through.
import { describe, expect, it } from "vitest";
import { commandIdOf } from "./ledger.js";
import { usePolicyRig } from "./test-policy.js";

describe("policy service: a viewer only looks", () => {
  const rig = usePolicyRig();

  it("refuses a viewer's send whatever the rules say, audits the refusal, and lets the viewer list and read", async () => {
    await rig.session("v1");
    await rig.setPolicy({
      version: 1,
      rules: [{ id: "everyone-all", role: "*", allow: ["list", "read", "send", "interrupt", "mark", "approve"] }],
    });
    rig.ops.length = 0;
    const viewer = { role: "viewer" as const, callerId: "vera" };
    const sent = await rig.command(
      "send",
      { target: { sessionId: "v1" }, text: "hi" },
      { ...viewer, key: "viewer-send-1" },
    );
    expect(sent).toMatchObject({
      ok: false,
      code: "denied",
      message: expect.stringContaining("role 'viewer' may only list sessions and read their summaries"),
    });
    const marked = await rig.command("mark", { target: { sessionId: "v1" }, disposition: "done" }, viewer);
    expect(marked).toMatchObject({ ok: false, code: "denied" });
    expect(rig.ops).toEqual([]);

    const id = commandIdOf({ role: "viewer", id: "vera" }, "viewer-send-1");
    await expect
      .poll(async () => (await rig.audit()).filter((r) => r.commandId === id).map((r) => r.kind))
      .toEqual(["request", "decision", "result"]);
    const decision = (await rig.audit()).find((r) => r.commandId === id && r.kind === "decision");
    expect(decision).toMatchObject({
      caller: { role: "viewer", id: "vera" },
      verb: "send",
      decision: { allow: false, code: "denied", reason: expect.stringContaining("send is refused") },
    });

    // The same rule lets an operator send: the refusal is the viewer's alone.
    expect(await rig.command("send", { target: { sessionId: "v1" }, text: "hi" })).toMatchObject({ ok: true });
    expect(await rig.command("list", {}, viewer)).toMatchObject({ ok: true });
    expect(await rig.command("read", { target: { sessionId: "v1" } }, viewer)).toMatchObject({ ok: true });
    const raw = await rig.command("read", { target: { sessionId: "v1" }, view: "raw" }, viewer);
    expect(raw).toMatchObject({ ok: false, code: "denied" });
  });
});
