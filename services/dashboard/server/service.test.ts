/**
 * `claw-supervisor service dashboard` (for containers): listens where told, accepts a reverse proxy's origin
 * given with --origin (and its Host), takes the cookie secret from $CLAW_DASHBOARD_COOKIE_SECRET or mints the
 * state dir's key file, refuses a short secret, and stops cleanly. The CLI in-process on a real nats-server.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { useBus } from "../../../test/support/bus.js";
import { startCliInProcess } from "../../cli/test-cli.js";
import { http } from "../test-dashboard.js";

describe("claw-supervisor service dashboard", () => {
  const nats = useBus({ ensure: true });
  const dir = mkdtempSync(path.join(tmpdir(), "dash-svc-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves with a proxy's origin, a secret from the environment, and stops on SIGTERM", async () => {
    const run = startCliInProcess(
      ["service", "dashboard", "--port", "0", "--origin", "https://claw.example.com", "--json"],
      { NATS_URL: nats.url, CLAW_DASHBOARD_COOKIE_SECRET: "s".repeat(40), CLAW_SUPERVISOR_STATE_DIR: dir },
    );
    await expect.poll(() => run.stdout(), { timeout: 10_000 }).toMatch(/\n$/);
    const ready = JSON.parse(run.stdout());
    expect(ready).toMatchObject({ service: "dashboard", url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/) });
    const url = ready.url as string;
    // The proxy's Host and Origin pass the guard (the token is still checked: no policy service here, so 503).
    const proxied = await http(url, "/api/signin", {
      method: "POST",
      body: { token: "cso_0123456789abcdef_0123456789012345678901234567890123456789012" },
      headers: { host: "claw.example.com", origin: "https://claw.example.com" },
    });
    expect(proxied.status, proxied.body).toBe(503);
    expect(proxied.json()).toMatchObject({ code: "unavailable" });
    const other = await http(url, "/api/signin", {
      method: "POST",
      body: { token: "x" },
      headers: { origin: "https://other.example.com" },
    });
    expect(other.status).toBe(403);
    // The environment's secret was used: no key file was minted.
    expect(() => statSync(path.join(dir, "dashboard-cookie.key"))).toThrow();
    run.stop("SIGTERM");
    expect(await run.exited).toBe(0);
  });

  it("mints <state-dir>/dashboard-cookie.key (0600) without the variable; refuses a short secret", async () => {
    const run = startCliInProcess(["service", "dashboard", "--port", "0", "--json"], {
      NATS_URL: nats.url,
      CLAW_SUPERVISOR_STATE_DIR: dir,
    });
    await expect.poll(() => run.stdout(), { timeout: 10_000 }).toMatch(/\n$/);
    expect(statSync(path.join(dir, "dashboard-cookie.key")).mode & 0o777).toBe(0o600);
    run.stop("SIGINT");
    expect(await run.exited).toBe(0);
    const short = startCliInProcess(["service", "dashboard", "--port", "0"], {
      NATS_URL: nats.url,
      CLAW_DASHBOARD_COOKIE_SECRET: "too-short",
    });
    expect(await short.exited).toBe(2);
    expect(short.stderr()).toContain("cookie secret");
    expect(short.stderr()).toContain("shorter than 32 characters");
  });
});
