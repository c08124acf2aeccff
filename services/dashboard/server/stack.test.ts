/**
 * The dashboard as `up` runs it: the local stack (its own nats-server with the bus users' permissions) started
 * with a dashboard port, the dashboard on the `client` user's connection. Checks up.json's dashboardUrl, the
 * cookie key file (0600), and that with only the client user's rights the live feed, FLEET notices, sign-in and
 * commands work: a session a host reports appears over the WebSocket, and an operator's mark is audited.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readBusLogin } from "../../clients/bus-credentials.js";
import { FakeHost } from "../../registry/test-fleet.js";
import { type LocalStack, startLocalStack } from "../../stack/local-stack.js";
import { addOperator, http, openSocket, quietLogger, signIn } from "../test-dashboard.js";

const THREAD = "66666666-6666-7666-8666-666666666666";

describe("the dashboard in the local stack (up), on the client user's rights", () => {
  let dir: string;
  let stack: LocalStack;
  let admin: NatsConnection;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "dash-stack-"));
    stack = await startLocalStack({
      stateDir: path.join(dir, "state"),
      gatewayPort: 0,
      mcpPort: 0,
      dashboardPort: 0,
      endpoint: "unix://",
      hostAgent: false,
      env: { PATH: process.env.PATH, HOME: dir },
      logger: quietLogger(),
    });
    const login = readBusLogin(stack.report.stateDir, "admin");
    admin = await connect({ servers: stack.report.nats.url, user: login?.user, pass: login?.pass });
  });
  afterAll(async () => {
    await admin?.close();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("reports the dashboard's URL, writes it to up.json, and keeps the cookie key 0600", () => {
    const url = stack.report.dashboard?.url;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const up = JSON.parse(readFileSync(path.join(stack.report.stateDir, "up.json"), "utf8"));
    expect(up.dashboardUrl).toBe(url);
    const key = path.join(stack.report.stateDir, "dashboard-cookie.key");
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(readFileSync(key, "utf8").trim().length).toBeGreaterThanOrEqual(32);
  });

  it("signs in, shows a session a host reports and its notice, and runs an operator's mark, audited", async () => {
    const url = stack.report.dashboard?.url as string;
    const cookie = await signIn(url, await addOperator(admin, "olga", "operator"));
    const s = openSocket(url, { cookie });
    s.hello(null);
    const snap = await s.next("snapshot");
    expect(snap.sessions).toEqual([]);
    const host = new FakeHost({ nc: admin, js: jetstream(admin) }, "h9");
    await host.synced(THREAD);
    const change = await s.next("changes", (c) => c.sessions.some((x) => x.key === `h9.${THREAD}`));
    expect(change.sessions.find((x) => x.key === `h9.${THREAD}`)?.record.host).toBe("h9");
    const notice = await s.next("notice", (n) => n.notice.sessionId === THREAD);
    expect(notice.notice.kind).toBe("session-new");
    const mark = await http(url, "/api/command", {
      method: "POST",
      headers: { origin: url, cookie },
      body: {
        verb: "mark",
        args: { target: { sessionId: THREAD }, disposition: "blocked" },
        idempotencyKey: "k-stack-1",
      },
    });
    // Allowed by policy, then sent to the host, which no agent connects here: 503 host_offline, as the CLI gets.
    expect(mark.status, mark.body).toBe(503);
    expect(mark.json()).toMatchObject({ ok: false, code: "host_offline" });
    const audit = await http(url, "/api/audit?caller=operator:olga&verb=mark&kind=decision", { headers: { cookie } });
    expect(audit.status, audit.body).toBe(200);
    expect(audit.json().data.records).toHaveLength(1);
    expect(audit.json().data.records[0].decision.allow).toBe(true);
    s.ws.close();
  });
});
