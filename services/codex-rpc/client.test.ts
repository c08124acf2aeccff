import { afterEach, describe, expect, it } from "vitest";
import { startFakeAppServer, type FakeAppServer } from "../../test/support/fake-app-server.js";
import { CodexRpcError, connectCodex, leaveToOwner, type CodexRpcClient } from "./index.js";

let fake: FakeAppServer | undefined;
const clients: CodexRpcClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await fake?.stop();
  fake = undefined;
});

async function setup(
  opts: Parameters<typeof startFakeAppServer>[0] = {},
  clientOpts: Parameters<typeof connectCodex>[1] = {},
) {
  fake = await startFakeAppServer(opts);
  const client = await connectCodex(fake.endpoint, clientOpts);
  clients.push(client);
  const conn = await fake.connection();
  return { client, conn, fake };
}

const rejection = async (p: Promise<unknown>): Promise<CodexRpcError> => {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CodexRpcError);
  return err as CodexRpcError;
};

const turnsListReply = { result: { data: [], nextCursor: null } };

describe("CodexRpcClient against a scripted app-server", () => {
  it("initializes with opt-outs and then sends `initialized`", async () => {
    const { client, conn } = await setup();
    const info = await client.initialize({
      clientInfo: { name: "claw-supervisor", version: "0.1.0" },
      optOutNotificationMethods: ["item/agentMessage/delta"],
    });
    expect(info.userAgent).toBe("fake-app-server/0.0.0");
    const init = await conn.waitFor((m) => m.method === "initialize");
    expect(init.params).toEqual({
      clientInfo: { name: "claw-supervisor", version: "0.1.0" },
      capabilities: { experimentalApi: false, optOutNotificationMethods: ["item/agentMessage/delta"] },
    });
    const initialized = await conn.waitFor((m) => m.method === "initialized");
    expect(initialized.id).toBeUndefined();
  });

  it("works over TCP WebSocket with a bearer token, and a wrong token is refused with the HTTP status", async () => {
    fake = await startFakeAppServer({ listen: "tcp", requireBearer: "s3cret" });
    const endpoint = fake.endpoint as { kind: "ws"; url: string };
    const good = await connectCodex({ ...endpoint, bearerToken: "s3cret" });
    clients.push(good);
    await expect(good.initialize({ clientInfo: { name: "t", version: "1" } })).resolves.toMatchObject({
      platformOs: "linux",
    });
    const err = await rejection(connectCodex({ ...endpoint, bearerToken: "wrong" }));
    expect(err.code).toBe("closed");
    expect(err.message).toContain("HTTP 401");
  });

  it("times out a request the server never answers, ignores the late answer, and keeps working", async () => {
    const { client, conn, fake } = await setup();
    let release: ((id: string | number) => void) | undefined;
    fake.handle("thread/turns/list", (_p, _c, id) => {
      release = (lateId) => conn.send({ id: lateId, ...turnsListReply });
      void id;
      return "silence";
    });
    const err = await rejection(client.request("thread/turns/list", { threadId: "t1" }, { timeoutMs: 100 }));
    expect(err.code).toBe("timeout");
    expect(err.retryable).toBe(true);
    expect(err.message).toContain("thread/turns/list got no answer within 100 ms");
    const first = await conn.waitFor((m) => m.method === "thread/turns/list");
    release!(first.id!);
    fake.handle("thread/turns/list", () => turnsListReply);
    await expect(client.request("thread/turns/list", { threadId: "t1" })).resolves.toEqual({
      data: [],
      nextCursor: null,
    });
    expect(client.isOpen).toBe(true);
  });

  it("cancels a request with an AbortSignal", async () => {
    const { client, fake } = await setup();
    fake.handle("thread/turns/list", () => "silence");
    const controller = new AbortController();
    const call = client.request("thread/turns/list", { threadId: "t1" }, { signal: controller.signal });
    controller.abort(new Error("caller gave up"));
    await expect(call).rejects.toThrow("caller gave up");
    await expect(client.request("thread/loaded/list", {}, { signal: AbortSignal.abort() })).rejects.toThrow();
  });

  it("fails every pending request with `closed` when the connection drops mid-request", async () => {
    const { client, conn, fake } = await setup();
    fake.handle("thread/turns/list", () => "silence");
    fake.handle("thread/loaded/list", () => "silence");
    const closed = client.closed();
    const calls = [
      client.request("thread/turns/list", { threadId: "a" }),
      client.request("thread/turns/list", { threadId: "b" }),
      client.request("thread/loaded/list", {}),
    ];
    await conn.waitFor((m) => m.method === "thread/loaded/list");
    conn.drop();
    const errors = await Promise.all(calls.map(rejection));
    expect(errors.map((e) => e.code)).toEqual(["closed", "closed", "closed"]);
    expect((await closed).code).toBe("closed");
    const after = await rejection(client.request("thread/loaded/list", {}));
    expect(after.code).toBe("closed");
    expect(after.message).toContain("is closed");
  });

  it("fails the connection cleanly on a frame that is not JSON", async () => {
    const { client, conn, fake } = await setup();
    fake.handle("thread/loaded/list", () => "silence");
    const call = client.request("thread/loaded/list", {});
    await conn.waitFor((m) => m.method === "thread/loaded/list");
    conn.sendRaw("{this is not json");
    const err = await rejection(call);
    expect(err.code).toBe("malformed");
    expect(err.message).toContain("frame is not JSON");
    expect(client.isOpen).toBe(false);
  });

  it("fails the connection on JSON that is no JSON-RPC message, and on a binary frame", async () => {
    const first = await setup();
    first.fake.handle("thread/loaded/list", () => "silence");
    const call = first.client.request("thread/loaded/list", {});
    await first.conn.waitFor((m) => m.method === "thread/loaded/list");
    first.conn.send([1, 2, 3]);
    expect((await rejection(call)).code).toBe("malformed");

    const second = await connectCodex(first.fake.endpoint);
    clients.push(second);
    const conn2 = await first.fake.connection(2);
    const call2 = second.request("thread/loaded/list", {});
    await conn2.waitFor((m) => m.method === "thread/loaded/list");
    conn2.sendRaw(Buffer.from([0xde, 0xad]), true);
    const err = await rejection(call2);
    expect(err.code).toBe("malformed");
    expect(err.message).toContain("binary frame");
  });

  it("fails the connection with `too_large` on a frame over the cap", async () => {
    const { client, conn, fake } = await setup({}, { maxFrameBytes: 1024 });
    fake.handle("thread/loaded/list", () => "silence");
    const call = client.request("thread/loaded/list", {});
    const req = await conn.waitFor((m) => m.method === "thread/loaded/list");
    conn.send({ id: req.id, result: { data: ["x".repeat(4096)], nextCursor: null } });
    const err = await rejection(call);
    expect(err.code).toBe("too_large");
    expect(err.message).toContain("exceeds 1024 bytes");
  });

  it("answers an unknown server request with a JSON-RPC error instead of silence", async () => {
    const { client, conn } = await setup();
    await client.initialize({ clientInfo: { name: "t", version: "1" } });
    conn.send({ id: 77, method: "item/something/new", params: {} });
    conn.send({
      id: 78,
      method: "item/commandExecution/requestApproval",
      params: { threadId: "t", turnId: "u", itemId: "i" },
    });
    const unknown = await conn.waitFor((m) => m.id === 77 && m.error !== undefined);
    expect(unknown.error).toMatchObject({ code: -32601, message: "this client has no handler for item/something/new" });
    const unowned = await conn.waitFor((m) => m.id === 78 && m.error !== undefined);
    expect(unowned.error).toMatchObject({ code: -32601 });
    expect(client.isOpen).toBe(true);
  });

  it("delivers server requests to their owner, who answers, declines or leaves them to another client", async () => {
    const { client, conn } = await setup();
    const seen: string[] = [];
    client.handleServerRequest("item/commandExecution/requestApproval", (params) => {
      seen.push(params.threadId);
      return params.threadId === "mine" ? { decision: "decline" } : leaveToOwner;
    });
    client.handleServerRequest("item/fileChange/requestApproval", () => ({ decision: "maybe" }) as never);
    expect(() => client.handleServerRequest("item/commandExecution/requestApproval", () => leaveToOwner)).toThrow(
      "already registered",
    );
    const approval = (id: number, threadId: string) =>
      conn.send({
        id,
        method: "item/commandExecution/requestApproval",
        params: { threadId, turnId: "u", itemId: "i" },
      });
    approval(1, "humans");
    approval(2, "mine");
    conn.send({
      id: 3,
      method: "item/fileChange/requestApproval",
      params: { threadId: "mine", turnId: "u", itemId: "i" },
    });
    expect((await conn.waitFor((m) => m.id === 2)).result).toEqual({ decision: "decline" });
    expect((await conn.waitFor((m) => m.id === 3)).error).toMatchObject({ code: -32603 });
    // Params that fail the schema: left unanswered (they may be a person's), unless a handler decides them.
    conn.send({ id: 4, method: "item/commandExecution/requestApproval", params: { threadId: "humans" } });
    await new Promise((r) => setTimeout(r, 50));
    expect(conn.received.some((m) => m.id === 1 || m.id === 4)).toBe(false);
    expect(seen).toEqual(["humans", "mine"]);
    const raw: unknown[] = [];
    client.onInvalidServerRequest((_method, params) => {
      raw.push(params);
      return { decision: "decline" };
    });
    conn.send({ id: 5, method: "item/commandExecution/requestApproval", params: { threadId: "mine" } });
    expect((await conn.waitFor((m) => m.id === 5)).result).toEqual({ decision: "decline" });
    expect(raw).toEqual([{ threadId: "mine" }]);
  });

  it("returns the server's error as `rpc_error` with its code and message", async () => {
    const { client, fake } = await setup();
    fake.handle("turn/steer", () => ({ error: { code: -32600, message: "no active turn to steer" } }));
    const err = await rejection(client.request("turn/steer", { threadId: "t", expectedTurnId: "x", input: [] }));
    expect(err.code).toBe("rpc_error");
    expect(err.rpcCode).toBe(-32600);
    expect(err.rpcMessage).toBe("no active turn to steer");
    expect(err.retryable).toBe(false);
  });

  it("rejects bad params before sending, and a result that breaks our schema, keeping the connection", async () => {
    const { client, conn, fake } = await setup();
    const bad = await rejection(client.request("turn/steer", { threadId: "t", input: [] } as never));
    expect(bad.code).toBe("malformed");
    expect(bad.message).toContain("invalid params for turn/steer: expectedTurnId");
    expect(conn.received.some((m) => m.method === "turn/steer")).toBe(false);
    fake.handle("thread/loaded/list", () => ({ result: { data: "not-a-list" } }));
    const wrong = await rejection(client.request("thread/loaded/list", {}));
    expect(wrong.code).toBe("malformed");
    expect(wrong.message).toContain("unexpected thread/loaded/list result: data");
    expect(client.isOpen).toBe(true);
  });

  it("delivers parsed notifications, drops ones that break their schema, and gives raw ones to catch-alls", async () => {
    const { client, conn } = await setup();
    const typed: string[] = [];
    const raw: string[] = [];
    client.on("thread/status/changed", (p, n) => typed.push(`${p.threadId}:${p.status.type}@${n.emittedAtMs}`));
    client.onAnyNotification((n) => raw.push(n.method));
    conn.send({
      method: "thread/status/changed",
      params: { threadId: "t1", status: { type: "idle" } },
      emittedAtMs: 5,
    });
    conn.send({ method: "thread/status/changed", params: { threadId: "t2", status: { type: "bogus" } } });
    conn.send({ method: "some/new/notification", params: {} });
    await expect.poll(() => raw.length).toBe(3);
    expect(typed).toEqual(["t1:idle@5"]);
    expect(raw).toEqual(["thread/status/changed", "thread/status/changed", "some/new/notification"]);
  });

  it("reports an unreachable endpoint as `closed` with the path", async () => {
    const err = await rejection(connectCodex({ kind: "unix", socketPath: "/nonexistent/app.sock" }));
    expect(err.code).toBe("closed");
    expect(err.message).toContain("/nonexistent/app.sock");
  });
});
