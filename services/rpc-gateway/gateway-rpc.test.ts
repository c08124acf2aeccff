import { describe, expect, it } from "vitest";
import { HostRpcResult, type HostRpcEnvelope } from "../../schemas/host-rpc.js";
import { useGateway } from "../../test/support/gateway.js";
import { subjects } from "../bus/index.js";

const readRequest = (hostId: string, id: string, timeoutMs = 2_000): HostRpcEnvelope => ({
  id,
  hostId,
  timeoutMs,
  request: { op: "read", threadId: "t-1", limit: 5, view: "summary" },
});

describe("rpc-gateway: commands relayed to the host agent on codex.rpc.<hostId>", () => {
  const fx = useGateway();

  async function ask(hostId: string, body: unknown): Promise<HostRpcResult> {
    const msg = await fx.nc.request(subjects.hostRpc(hostId), JSON.stringify(body), { timeout: 5_000 });
    return HostRpcResult.parse(msg.json());
  }

  it("sends the command to the host's agent and replies with the agent's result", async () => {
    const agent = await fx.agentFor("rpc-a");
    const answer = ask("rpc-a", readRequest("rpc-a", "cmd-1"));
    const frame = await agent.next((f) => f.type === "rpc");
    expect(frame).toMatchObject({
      type: "rpc",
      id: "cmd-1",
      timeoutMs: 2_000,
      request: { op: "read", threadId: "t-1" },
    });
    agent.send({ type: "rpcResult", id: "cmd-1", result: { ok: true, data: { turns: [], nextCursor: null } } });
    expect(await answer).toEqual({ ok: true, data: { turns: [], nextCursor: null } });
  });

  it("has no responder for a host with no connection, so the caller knows it is offline", async () => {
    await expect(
      fx.nc.request(subjects.hostRpc("rpc-nobody"), JSON.stringify(readRequest("rpc-nobody", "cmd-2")), {
        timeout: 2_000,
      }),
    ).rejects.toThrow(/no responders/i);
  });

  it("answers host_offline when the agent disconnects before answering", async () => {
    const agent = await fx.agentFor("rpc-b");
    const answer = ask("rpc-b", readRequest("rpc-b", "cmd-3"));
    await agent.next((f) => f.type === "rpc");
    agent.ws.close(1000, "bye");
    const result = await answer;
    expect(result).toMatchObject({ ok: false, code: "host_offline", retryable: true });
    expect(result.ok === false && result.message).toMatch(/may or may not have run/);
    await expect
      .poll(async () =>
        fx.nc.request(subjects.hostRpc("rpc-b"), "{}", { timeout: 500 }).then(
          () => "answered",
          (e: Error) => e.message,
        ),
      )
      .toMatch(/no responders/i);
  });

  it("answers timeout when the agent is silent past the command's timeout", async () => {
    const agent = await fx.agentFor("rpc-c");
    const result = await ask("rpc-c", readRequest("rpc-c", "cmd-4", 200));
    expect(agent.frames.some((f) => f.type === "rpc" && f.id === "cmd-4")).toBe(true);
    expect(result).toMatchObject({ ok: false, code: "timeout" });
  });

  it("refuses a malformed request, and one addressed to another host, without sending anything", async () => {
    const agent = await fx.agentFor("rpc-d");
    expect(await ask("rpc-d", { id: "x", hostId: "rpc-d" })).toMatchObject({ ok: false, code: "invalid" });
    expect(await ask("rpc-d", readRequest("rpc-other", "cmd-5"))).toMatchObject({
      ok: false,
      code: "invalid",
      message: expect.stringMatching(/rpc-other/),
    });
    const raw = await fx.nc.request(subjects.hostRpc("rpc-d"), "not json", { timeout: 2_000 });
    expect(HostRpcResult.parse(raw.json())).toMatchObject({ ok: false, code: "invalid" });
    expect(agent.frames.filter((f) => f.type === "rpc")).toEqual([]);
  });

  it("drops a result for no call in flight with a logged reason and keeps the connection", async () => {
    const agent = await fx.agentFor("rpc-e");
    agent.send({ type: "rpcResult", id: "never-asked", result: { ok: true, data: {} } });
    await expect
      .poll(() => fx.logs.some((l) => l.id === "never-asked" && /no call in flight/.test(String(l.msg))))
      .toBe(true);
    const answer = ask("rpc-e", readRequest("rpc-e", "cmd-6"));
    await agent.next((f) => f.type === "rpc" && f.id === "cmd-6");
    agent.send({
      type: "rpcResult",
      id: "cmd-6",
      result: { ok: false, code: "not_found", message: "no such thread", retryable: false },
    });
    expect(await answer).toMatchObject({ ok: false, code: "not_found" });
  });

  it("drops a message with no reply inbox (as JetStream deliveries aimed at the subject arrive) and sends nothing to the agent", async () => {
    const agent = await fx.agentFor("rpc-f");
    fx.nc.publish(subjects.hostRpc("rpc-f"), JSON.stringify(readRequest("rpc-f", "cmd-7")));
    fx.nc.publish(subjects.hostRpc("rpc-f"), JSON.stringify(readRequest("rpc-f", "cmd-8")), {
      reply: "not-an-inbox.1",
    });
    await expect
      .poll(() => fx.logs.filter((l) => /not a policy request/.test(String(l.msg))).map((l) => l.reply))
      .toEqual(["", "not-an-inbox.1"]);
    expect(agent.frames.filter((f) => f.type === "rpc")).toEqual([]);
  });
});
