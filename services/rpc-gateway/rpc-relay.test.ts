/**
 * The relay's fence on a real nats-server: a command reaches the agent only while the connection here holds
 * the host's lease. A deposed gateway (its lease not held, or the host let go and its subscription draining)
 * refuses a command with a typed, retryable host_offline and sends nothing.
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { HostRpcRequest, HostRpcResult } from "../../schemas/host-rpc.js";
import { HostRpcResult as HostRpcResultSchema } from "../../schemas/host-rpc.js";
import { useBus } from "../../test/support/bus.js";
import { subjects } from "../bus/index.js";
import { RpcRelay, type RelayTarget } from "./rpc-relay.js";

class FakeTarget implements RelayTarget {
  held = true;
  readonly calls: string[] = [];
  constructor(
    readonly hostId: string,
    readonly leaseEpoch: number,
  ) {}
  holdsLease(): boolean {
    return this.held;
  }
  callAgent(id: string, _request: HostRpcRequest, _timeoutMs: number): Promise<HostRpcResult> {
    this.calls.push(id);
    return Promise.resolve({ ok: true, data: { ran: id } });
  }
}

describe("the rpc relay's lease fence", () => {
  const bus = useBus();
  const ask = async (hostId: string, id: string): Promise<HostRpcResult> => {
    const envelope = { id, hostId, request: { op: "interrupt", threadId: "t-1" }, timeoutMs: 1_000 };
    const reply = await bus.nc.request(subjects.hostRpc(hostId), JSON.stringify(envelope), { timeout: 3_000 });
    return HostRpcResultSchema.parse(reply.json());
  };

  it("relays while the lease is held and refuses, typed and unsent, once it is not", async () => {
    const relay = new RpcRelay(await bus.connect(), pino({ level: "silent" }), "gw-test");
    const conn = new FakeTarget("host-f", 7);
    relay.hostConnected(conn);
    await new Promise((r) => setTimeout(r, 50));
    expect(await ask("host-f", "c1")).toEqual({ ok: true, data: { ran: "c1" } });

    conn.held = false; // taken over elsewhere, not yet let go here
    const refused = await ask("host-f", "c2");
    expect(refused).toMatchObject({ ok: false, code: "host_offline", retryable: true });
    expect(refused.ok === false && refused.message).toBe(
      "gw-test no longer holds host host-f (its lease at epoch 7 is not held); nothing was sent",
    );
    expect(conn.calls).toEqual(["c1"]);
    relay.close();
  });

  it("after the host is let go, no gateway serves it: the requester sees no responders", async () => {
    const relay = new RpcRelay(await bus.connect(), pino({ level: "silent" }), "gw-test");
    const conn = new FakeTarget("host-g", 3);
    relay.hostConnected(conn);
    await new Promise((r) => setTimeout(r, 50));
    relay.hostClosed(conn, "taken over at lease epoch 9 via gw-2");
    await new Promise((r) => setTimeout(r, 100));
    await expect(ask("host-g", "c3")).rejects.toThrow(/no responders/i);
    expect(conn.calls).toEqual([]);
  });
});
