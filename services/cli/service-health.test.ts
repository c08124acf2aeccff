/** `claw-supervisor service <name>`'s shared flags for running as one of N instances: health port and host, instance id. */
import { createServer, type Server } from "node:net";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { useNatsServer } from "../../test/support/bus.js";
import { subjects } from "../bus/subjects.js";
import { connectAgent, hello } from "../rpc-gateway/test-agent.js";
import { createHostToken, openHostTokenBucket } from "../rpc-gateway/tokens.js";
import { startCliInProcess } from "./test-cli.js";

const start = startCliInProcess;

async function readyLine(run: ReturnType<typeof start>): Promise<Record<string, unknown>> {
  await expect.poll(() => run.stdout(), { timeout: 15_000 }).toMatch(/\n$/);
  return JSON.parse(run.stdout());
}

describe("claw-supervisor service: --health-port, --health-host, --instance", () => {
  const nats = useNatsServer();

  it("serves /healthz, /readyz and /metrics labelled with the instance, logs carry it, and stops serving on stop", async () => {
    const run = start(
      ["service", "registry", "--ensure-bus", "--json", "--health-port", "0", "--instance", "registry-a"],
      { NATS_URL: nats.url },
    );
    const ready = await readyLine(run);
    expect(ready).toMatchObject({
      service: "registry",
      instance: "registry-a",
      health: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
    });
    const url = ready.health as string;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const readyz = await fetch(`${url}/readyz`);
    expect(readyz.status).toBe(200);
    // The registry reports its partition lease (one partition by default), held: it is the only instance.
    expect(await readyz.json()).toEqual({
      status: "ready",
      bus: "connected",
      leases: [{ key: "registry.1.0", state: "held" }],
    });
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toContain("# TYPE claw_commands_total counter");
    expect(metrics).toMatch(/\nclaw_nodejs_heap_size_total_bytes\{service="registry",instance="registry-a"\} \d+/);
    expect((await fetch(`${url}/nope`)).status).toBe(404);

    run.stop("SIGTERM");
    expect(await run.exited).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
    const logs = run
      .stderr()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(logs.length).toBeGreaterThan(0);
    for (const line of logs) expect(line.instance, JSON.stringify(line)).toBe("registry-a");
  });

  it("the default instance is <service>@<hostname>:<pid>, and the policy service takes it as its instance id", async () => {
    const run = start(["service", "policy", "--ensure-bus", "--json"], { NATS_URL: nats.url });
    const ready = await readyLine(run);
    expect(ready.instance).toBe(`policy@${(await import("node:os")).hostname()}:${process.pid}`);
    expect(ready.instanceId).toBe(ready.instance);
    expect(ready).not.toHaveProperty("health");
    run.stop("SIGTERM");
    expect(await run.exited).toBe(0);
  });

  it("the policy service counts the commands it answers into the process's /metrics", async () => {
    const run = start(["service", "policy", "--ensure-bus", "--json", "--health-port", "0", "--instance", "policy-m"], {
      NATS_URL: nats.url,
    });
    const ready = await readyLine(run);
    const counted = async () =>
      /\nclaw_commands_total\{verb="send",result="invalid",service="policy",instance="policy-m"\} (\d+)/.exec(
        await (await fetch(`${ready.health}/metrics`)).text(),
      )?.[1];
    expect(await counted()).toBeUndefined();
    const nc = await connect({ servers: nats.url });
    try {
      const answer = await nc.request(subjects.command("send"), "not json", { timeout: 5_000 });
      expect(answer.json()).toMatchObject({ ok: false, code: "invalid" });
      await nc.request(subjects.command("send"), "not json", { timeout: 5_000 });
    } finally {
      await nc.close();
    }
    expect(await counted()).toBe("2");
    run.stop("SIGTERM");
    expect(await run.exited).toBe(0);
  });

  it("the gateway takes --instance as its gateway id (its host leases' holder) and counts them on /metrics", async () => {
    const run = start(["service", "rpc-gateway", "--port", "0", "--json", "--health-port", "0", "--instance", "gw-a"], {
      NATS_URL: nats.url,
    });
    const ready = await readyLine(run);
    expect(ready).toMatchObject({ gatewayId: "gw-a", instance: "gw-a" });
    const nc = await connect({ servers: nats.url });
    const { token } = await createHostToken(await openHostTokenBucket(nc), "host-m");
    await nc.close();
    const agent = await connectAgent(ready.url as string, token);
    agent.send(hello("host-m"));
    expect(await agent.next()).toMatchObject({ type: "welcome", hostId: "host-m", gatewayId: "gw-a" });
    await expect
      .poll(async () => (await fetch(`${ready.health}/metrics`)).text(), { timeout: 10_000 })
      .toMatch(/\nclaw_lease_held\{lease="host\.host-m",service="rpc-gateway",instance="gw-a"\} 1\n/);
    run.stop("SIGTERM");
    expect(await run.exited).toBe(0);
  });

  it("refuses bad values with one-line errors: exit 2 for usage, 1 for a port in use", async () => {
    const cases: [string[], string][] = [
      [["--health-port", "99999"], "claw-supervisor service: --health-port: must be between 0 and 65535\n"],
      [["--health-port", "web"], "claw-supervisor service: --health-port: must be a port number\n"],
      [["--health-port", "94.5"], "claw-supervisor service: --health-port: must be a whole number\n"],
      [
        ["--health-host", "0.0.0.0"],
        "claw-supervisor service: --health-host applies to --health-port: add it, or drop --health-host\n",
      ],
      [["--instance", ""], "claw-supervisor service: --instance: must not be empty\n"],
      [["--instance", "a b"], "claw-supervisor service: --instance: must be visible ASCII characters without spaces\n"],
    ];
    for (const [flags, message] of cases) {
      const run = start(["service", "registry", "--nats-url", nats.url, ...flags]);
      expect(await run.exited, flags.join(" ")).toBe(2);
      expect(run.stderr(), flags.join(" ")).toBe(message);
    }

    const holder: Server = createServer();
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
    const port = (holder.address() as { port: number }).port;
    try {
      const busy = start(["service", "registry", "--nats-url", nats.url, "--health-port", String(port)]);
      expect(await busy.exited).toBe(1);
      expect(busy.stderr()).toBe(
        `claw-supervisor service: cannot serve health endpoints on 127.0.0.1:${port}: the port is in use\n`,
      );
    } finally {
      await new Promise((resolve) => holder.close(resolve));
    }
  });

  it("--ensure-only sets up the bus and exits without starting the service (a bootstrap job)", async () => {
    const run = start(["service", "registry", "--ensure-only", "--replicas", "1", "--json", "--instance", "boot"], {
      NATS_URL: nats.url,
    });
    expect(await run.exited, run.stderr()).toBe(0);
    const out = JSON.parse(run.stdout());
    expect(out).toMatchObject({ service: "registry", instance: "boot" });
    expect(out.bus.streams.map((s: { name: string }) => s.name)).toContain("CODEX_EVENTS");
    expect(out.bus.buckets.map((b: { bucket: string }) => b.bucket)).toContain("codex-leases");
    // Nothing was started: no registry answers.
    const hosts = start(["hosts", "--nats-url", nats.url, "--timeout", "500"]);
    expect(await hosts.exited).toBe(1);
    expect(hosts.stderr()).toContain("no registry");
    const text = start(["service", "policy", "--ensure-only"], { NATS_URL: nats.url });
    expect(await text.exited).toBe(0);
    expect(text.stdout()).toMatch(/^claw-supervisor service: bus set up: CODEX_EVENTS \(\w+\), .*codex-leases \(\w+\)/);
    const withHealth = start(["service", "policy", "--ensure-only", "--health-port", "0"], { NATS_URL: nats.url });
    expect(await withHealth.exited).toBe(2);
    expect(withHealth.stderr()).toBe(
      "claw-supervisor service: --ensure-only exits once the bus is set up: drop --health-port\n",
    );
  });

  it("--help documents the shared flags", async () => {
    const help = start(["service", "--help"]);
    expect(await help.exited).toBe(0);
    expect(help.stdout()).toMatch(/\n--health-port PORT\n {18}serve GET \/healthz \(alive\), \/readyz/);
    expect(help.stdout()).toContain("the deploy files use 9464");
    expect(help.stdout()).toMatch(
      /\n--health-host HOST\n {18}address for them \(default 127\.0\.0\.1; containers pass 0\.0\.0\.0\)/,
    );
    expect(help.stdout()).toMatch(/\n--instance ID {5}this instance's id in logs, metrics and leases/);
    expect(help.stdout()).toMatch(/\n--ensure-only {5}as --ensure-bus, then exit without starting the service/);
  });
});
