import { afterEach, describe, expect, it } from "vitest";
import { useGateway } from "../../test/support/gateway.js";
import { HOST_ID_HEADER } from "./server.js";
import { connectAgent, hello, UpgradeRefused, type TestAgent } from "./test-agent.js";
import { createHostToken, revokeHostToken } from "./tokens.js";

const agents: TestAgent[] = [];
afterEach(() => {
  for (const a of agents.splice(0)) a.ws.terminate();
});

async function refusedStatus(
  url: string,
  token: string | undefined,
  headers?: Record<string, string>,
): Promise<number> {
  const err = await connectAgent(url, token, headers ? { headers } : {}).then(
    (a) => {
      agents.push(a);
      return new Error("upgrade was accepted");
    },
    (e: unknown) => e,
  );
  if (!(err instanceof UpgradeRefused)) throw err;
  return err.status;
}

describe("the gateway authenticates in the HTTP upgrade", () => {
  const fx = useGateway();

  const refusalLogged = (reason: string) =>
    fx.logs.some((l) => String(l.msg) === `refused upgrade: ${reason}` && l.status === 401);

  it("refuses an upgrade with no token with 401 and logs why", async () => {
    expect(await refusedStatus(fx.gateway.url, undefined)).toBe(401);
    expect(refusalLogged("no Authorization header")).toBe(true);
  });

  it("refuses a malformed token with 401", async () => {
    expect(await refusedStatus(fx.gateway.url, "not-a-token")).toBe(401);
    expect(refusalLogged("bearer value is not a host token (cst_<id>_<secret>)")).toBe(true);
  });

  it("refuses a well-formed token the store does not know with 401", async () => {
    expect(await refusedStatus(fx.gateway.url, `cst_0123456789abcdef_${"A".repeat(43)}`)).toBe(401);
    expect(refusalLogged("unknown host token")).toBe(true);
  });

  it("refuses a known token id with the wrong secret with 401", async () => {
    const token = await fx.token("host-w");
    expect(await refusedStatus(fx.gateway.url, `${token.slice(0, 21)}${"B".repeat(43)}`)).toBe(401);
    expect(refusalLogged("mismatch host token")).toBe(true);
  });

  it("refuses a revoked token with 401", async () => {
    const { token } = await createHostToken(fx.kv, "host-r");
    await revokeHostToken(fx.kv, { hostId: "host-r" });
    expect(await refusedStatus(fx.gateway.url, token)).toBe(401);
    expect(refusalLogged("revoked host token")).toBe(true);
  });

  it("refuses a token for host A used by a request that declares host B with 401", async () => {
    const token = await fx.token("host-a");
    expect(await refusedStatus(fx.gateway.url, token, { [HOST_ID_HEADER]: "host-b" })).toBe(401);
    expect(refusalLogged("token is for host host-a, request declares host-b")).toBe(true);
    const declared = await connectAgent(fx.gateway.url, token, { headers: { [HOST_ID_HEADER]: "host-a" } });
    agents.push(declared);
  });

  // A live connection is cut as soon as the gateway's KV watch sees its token revoked (close 1008), and the
  // same token is refused with 401 on the next upgrade.
  it("cuts a live connection whose token is revoked, and refuses it on reconnect", async () => {
    const { token } = await createHostToken(fx.kv, "host-live");
    const agent = await connectAgent(fx.gateway.url, token);
    agents.push(agent);
    agent.send(hello("host-live"));
    await agent.next((f) => f.type === "welcome");
    await revokeHostToken(fx.kv, { hostId: "host-live" });
    expect(await agent.closed).toEqual({ code: 1008, reason: "host token revoked" });
    expect(await refusedStatus(fx.gateway.url, token)).toBe(401);
  });

  it("accepts a valid token and welcomes the hello for its host", async () => {
    const agent = await connectAgent(fx.gateway.url, await fx.token("host-ok"));
    agents.push(agent);
    agent.send(hello("host-ok"));
    expect(await agent.next()).toEqual({
      type: "welcome",
      hostId: "host-ok",
      gatewayId: fx.gateway.gatewayId,
      leaseEpoch: expect.any(Number),
    });
  });

  it("answers plain HTTP: /healthz with 200, anything else with 426", async () => {
    const base = fx.gateway.url.replace(/^ws/, "http");
    const health = await fetch(`${base}healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: "ok", gatewayId: fx.gateway.gatewayId });
    expect((await fetch(base)).status).toBe(426);
  });
});
