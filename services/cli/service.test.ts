import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { useNatsServer } from "../../test/support/bus.js";
import { connectAgent, hello } from "../rpc-gateway/test-agent.js";
import { createHostToken, openHostTokenBucket } from "../rpc-gateway/tokens.js";
import { startCliInProcess } from "./test-cli.js";

const start = startCliInProcess;

describe("claw-supervisor service", () => {
  const nats = useNatsServer();

  it("refuses to start rpc-gateway on a bus that is not set up, saying how to fix it", async () => {
    const run = start(["service", "rpc-gateway", "--nats-url", nats.url, "--port", "0"]);
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toMatch(
      /claw-supervisor service: cannot start rpc-gateway: KV bucket codex-host-tokens does not exist: run 'claw-supervisor up'/,
    );
  });

  it("runs rpc-gateway until asked to stop: an agent with a token gets its welcome", async () => {
    const run = start(["service", "rpc-gateway", "--port", "0", "--ensure-bus", "--json"], { NATS_URL: nats.url });
    await expect.poll(() => run.stdout(), { timeout: 10_000 }).toMatch(/\n$/);
    const ready = JSON.parse(run.stdout());
    expect(ready).toMatchObject({
      service: "rpc-gateway",
      nats: nats.url,
      url: expect.stringMatching(/^ws:\/\/127\.0\.0\.1:\d+\/$/),
    });

    // `token create` asks the policy service, which this test does not run: mint the token on the bus directly.
    const nc = await connect({ servers: nats.url });
    const { token } = await createHostToken(await openHostTokenBucket(nc), "host-svc");
    await nc.close();
    const agent = await connectAgent(ready.url, token);
    agent.send(hello("host-svc"));
    expect(await agent.next()).toMatchObject({ type: "welcome", hostId: "host-svc", gatewayId: ready.gatewayId });

    run.stop("SIGTERM");
    expect(await run.exited).toBe(0);
    expect(await agent.closed).toEqual({ code: 1001, reason: "gateway stopping" });
    expect(run.stderr()).toContain('"msg":"rpc-gateway stopped"');
  });

  it("runs the registry until asked to stop: it answers queries over the bus", async () => {
    const run = start(["service", "registry", "--ensure-bus", "--json", "--sweep-interval", "500"], {
      NATS_URL: nats.url,
    });
    await expect.poll(() => run.stdout(), { timeout: 10_000 }).toMatch(/\n$/);
    expect(JSON.parse(run.stdout())).toMatchObject({ service: "registry", nats: nats.url, durable: "registry" });
    const hosts = start(["hosts", "--json", "--nats-url", nats.url]);
    expect(await hosts.exited, hosts.stderr()).toBe(0);
    expect(JSON.parse(hosts.stdout())).toEqual({ ok: true, data: [] });
    run.stop("SIGINT");
    expect(await run.exited).toBe(0);
    const gone = start(["hosts", "--nats-url", nats.url, "--timeout", "500"]);
    expect(await gone.exited).toBe(1);
    expect(gone.stderr()).toContain("no registry");
    expect(await start(["service", "registry", "--nats-url", nats.url, "--stale-after", "soon"]).exited).toBe(2);
  });

  it("runs registry instances over --partitions: the first serves every partition, the next stands by", async () => {
    const flags = ["--nats-url", nats.url, "--json", "--partitions", "2", "--lease-ttl", "1500"];
    const first = start(["service", "registry", ...flags, "--instance", "reg-1"]);
    await expect.poll(() => first.stdout(), { timeout: 10_000 }).toMatch(/\n$/);
    expect(JSON.parse(first.stdout())).toMatchObject({ durable: "registry-2-<k>", partitions: 2, serving: [0, 1] });
    const second = start(["service", "registry", ...flags, "--instance", "reg-2", "--session-snapshots", "whole"]);
    await expect.poll(() => second.stdout(), { timeout: 10_000 }).toMatch(/\n$/);
    expect(JSON.parse(second.stdout())).toMatchObject({ instance: "reg-2", partitions: 2, serving: [] });
    first.stop("SIGTERM");
    second.stop("SIGTERM");
    expect([await first.exited, await second.exited]).toEqual([0, 0]);
    const bad = start(["service", "registry", "--nats-url", nats.url, "--partitions", "0"]);
    expect(await bad.exited).toBe(2);
    expect(bad.stderr()).toContain("--partitions: must be between 1 and 64");
    const typo = start(["service", "registry", "--nats-url", nats.url, "--session-snapshots", "full"]);
    expect(await typo.exited).toBe(2);
    expect(typo.stderr()).toContain("--session-snapshots: must be 'compact' or 'whole'");
  });

  it("refuses bad invocations with one-line errors and exit code 2", async () => {
    const unknown = start(["service", "frobnicator"]);
    expect(await unknown.exited).toBe(2);
    expect(unknown.stderr()).toBe(
      "claw-supervisor service: unknown service 'frobnicator'; expected one of rpc-gateway, registry, policy, mcp-edge, dashboard. See 'claw-supervisor service --help'.\n",
    );
    const none = start(["service"]);
    expect(await none.exited).toBe(2);
    expect(none.stderr()).toContain("service needs a name: rpc-gateway, registry, policy");
    const noNats = start(["service", "rpc-gateway"]);
    expect(await noNats.exited).toBe(1);
    expect(noNats.stderr()).toMatch(
      /^claw-supervisor service: no running 'claw-supervisor up' found in .+: start it, or pass --nats-url\/NATS_URL\n$/,
    );
    const badPort = start(["service", "rpc-gateway", "--nats-url", nats.url, "--port", "99999"]);
    expect(await badPort.exited).toBe(2);
    expect(badPort.stderr()).toBe("claw-supervisor service: --port: must be between 0 and 65535\n");
    const badOption = start(["service", "rpc-gateway", "--bogus"]);
    expect(await badOption.exited).toBe(2);
    expect(badOption.stderr()).toContain("Unknown option '--bogus'. See 'claw-supervisor service rpc-gateway --help'.");
    const badReplicas = start(["service", "registry", "--nats-url", nats.url, "--ensure-bus", "--replicas", "2"]);
    expect(await badReplicas.exited).toBe(2);
    expect(badReplicas.stderr()).toBe("claw-supervisor service: --replicas: must be 1, 3 or 5\n");
    const replicasAlone = start(["service", "registry", "--nats-url", nats.url, "--replicas", "3"]);
    expect(await replicasAlone.exited).toBe(2);
    expect(replicasAlone.stderr()).toContain("--replicas applies to --ensure-bus");
    const badEnv = start(["service", "registry", "--nats-url", nats.url, "--ensure-bus"], { CLAW_BUS_REPLICAS: "x" });
    expect(await badEnv.exited).toBe(2);
    expect(badEnv.stderr()).toBe("claw-supervisor service: CLAW_BUS_REPLICAS: must be 1, 3 or 5\n");
    const help = start(["service", "--help"]);
    expect(await help.exited).toBe(0);
    expect(help.stdout()).toMatch(/\n  rpc-gateway  WebSocket server/);
    expect(help.stdout()).toMatch(/\n--replicas N {6}with --ensure-bus: copies of each stream and bucket, 1, 3 or 5/);
  });
});
