/**
 * The MCP edge's HTTP timeouts: a client that never finishes its headers, or sends nothing, is cut off within
 * the configured time, and the edge goes on answering other requests.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { useBus } from "../../test/support/bus.js";
import { silentClient, slowHeaderClient } from "../../test/support/slow-client.js";
import { startMcpHttpEdge, type McpHttpEdge } from "./http.js";
import { newEdgeSecret } from "./tokens.js";

describe("MCP edge HTTP timeouts", () => {
  const bus = useBus({ ensure: true });
  let edge: McpHttpEdge;
  beforeAll(async () => {
    edge = await startMcpHttpEdge({
      nc: bus.nc,
      secret: newEdgeSecret(),
      port: 0,
      headersTimeoutMs: 1_000,
      requestTimeoutMs: 2_000,
    });
  });
  afterAll(() => edge?.stop());

  it("cuts off a slow-header client and a silent one within the configured time, and keeps serving", async () => {
    const [slow, silent] = await Promise.all([
      slowHeaderClient("127.0.0.1", edge.port, 100),
      silentClient("127.0.0.1", edge.port),
    ]);
    // Configured 1 s; the bound is generous so a loaded machine does not fail it.
    expect(slow.heldMs).toBeLessThan(10_000);
    expect(slow.reply).toMatch(/^HTTP\/1\.1 408 /);
    expect(silent.heldMs).toBeLessThan(10_000);
    expect(silent.reply).toMatch(/^HTTP\/1\.1 408 /);
    const res = await fetch(edge.url, { method: "POST", body: "{}" });
    expect(res.status).toBe(401);
  });

  it("refuses timeouts that are not positive, or a header timeout beyond the request timeout", async () => {
    const base = { nc: bus.nc, secret: newEdgeSecret(), port: 0 };
    await expect(startMcpHttpEdge({ ...base, headersTimeoutMs: 0 })).rejects.toThrow(
      "invalid MCP edge options: headersTimeoutMs:",
    );
    await expect(startMcpHttpEdge({ ...base, headersTimeoutMs: 20_000 })).rejects.toThrow(
      "invalid MCP edge options: headersTimeoutMs: must not exceed requestTimeoutMs",
    );
  });
});
