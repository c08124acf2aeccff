/**
 * Whom the CLI gives the operator password: only the nats-server the running `up` started on this state dir's
 * store, while it runs. With real parts: `up`'s embedded nats-server with generated credentials, an `up.json` as
 * `up` writes it, another nats-server, and a fake NATS listener that takes over the port once up's server is
 * killed and records what the CLI sends it.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startEmbeddedNats, type EmbeddedNats } from "../bus/index.js";
import { connectCli } from "../cli/connection.js";
import { processAlive, waitForProcessGone } from "../../test/support/processes.js";
import { startNatsServer, type NatsTestServer } from "../../test/support/nats-server.js";
import { connectBus } from "../bus/connect.js";
import { DEFAULT_NATS_URL, parsePluginConfig, pluginLogin, pluginNatsUrl } from "../claw/config.js";
import {
  credentialsFile,
  ensureBusCredentials,
  loginForUrl,
  NotUpsBusError,
  stateDirOfCredentialsFile,
  upBusAuthenticator,
} from "./bus-credentials.js";
import { writeUpFile } from "./up-file.js";

let stateDir: string;
let nats: EmbeddedNats | undefined;
let other: NatsTestServer | undefined;
let fake: Server | undefined;
const pids: number[] = [];

beforeEach(() => {
  stateDir = mkdtempSync(path.join(tmpdir(), "claw-login-"));
});
afterEach(async () => {
  await nats?.stop();
  nats = undefined;
  await other?.stop();
  other = undefined;
  await new Promise<void>((resolve) => (fake ? fake.close(() => resolve()) : resolve()));
  fake = undefined;
  for (const pid of pids.splice(0)) {
    if (processAlive(pid)) process.kill(pid, "SIGKILL");
    await waitForProcessGone(pid, 5_000);
  }
  rmSync(stateDir, { recursive: true, force: true });
});

/** `up`'s own nats-server on the state dir, and the up.json `up` writes for it (this process plays `up`). */
async function embeddedUp(): Promise<{ url: string; passwords: Record<string, string> }> {
  const passwords = await ensureBusCredentials(stateDir);
  nats = await startEmbeddedNats({ stateDir, users: passwords });
  await writeUpFile(stateDir, {
    natsUrl: nats.url,
    gatewayUrl: "ws://127.0.0.1:1/",
    pid: process.pid,
    embedded: true,
    natsPid: nats.pid,
  });
  return { url: nats.url, passwords };
}

const env = (): NodeJS.ProcessEnv => ({ CLAW_SUPERVISOR_STATE_DIR: stateDir });

/** A fake NATS server on `port`: greets, records everything each client sends, refuses the CONNECT. */
async function fakeNatsOn(port: number): Promise<{ received: () => string }> {
  let received = "";
  const server = createServer((socket: Socket) => {
    socket.write(
      `INFO ${JSON.stringify({ server_id: "FAKE", server_name: "fake", version: "2.10.0", proto: 1, host: "127.0.0.1", port, max_payload: 1048576, headers: true, auth_required: true })}\r\n`,
    );
    socket.on("data", (chunk) => {
      received += chunk.toString("utf8");
      if (received.includes("CONNECT ")) socket.end("-ERR 'Authorization Violation'\r\n");
    });
    socket.on("error", () => undefined);
  });
  // The killed server's port comes free at once; retry briefly in case the kernel is still letting it go.
  for (let attempt = 0; ; attempt++) {
    try {
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => resolve());
      });
      break;
    } catch (err) {
      if (attempt >= 40) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  fake = server;
  return { received: () => received };
}

describe("loginForUrl", () => {
  it("gives the operator login for the bus of up's own nats-server on this state dir, and it is accepted", async () => {
    const { url, passwords } = await embeddedUp();
    expect(loginForUrl(url, "operator", env(), stateDir)).toEqual({ user: "operator", pass: passwords.operator });
    expect(loginForUrl(url.replace("127.0.0.1", "localhost"), "operator", env(), stateDir)).toBeUndefined();
    expect(loginForUrl("nats://127.0.0.1:1", "operator", env(), stateDir)).toBeUndefined();
    expect(loginForUrl(url.replace("nats://", "nats://someone:pw@"), "operator", env(), stateDir)).toBeUndefined();
    const nc = await connectCli(url, env());
    await nc.close();
  });

  it("gives nothing when up.json does not say up runs its own server, or names a pid that is not it", async () => {
    const { url } = await embeddedUp();
    const upFile = { natsUrl: url, gatewayUrl: "ws://127.0.0.1:1/", pid: process.pid };
    // up --nats-url: the credentials files an earlier embedded run left must not go to that server.
    await writeUpFile(stateDir, { ...upFile, embedded: false });
    expect(loginForUrl(url, "operator", env(), stateDir)).toBeUndefined();
    // An older version's up.json, without the field.
    await writeUpFile(stateDir, upFile);
    expect(loginForUrl(url, "operator", env(), stateDir)).toBeUndefined();
    await writeUpFile(stateDir, { ...upFile, embedded: true });
    expect(loginForUrl(url, "operator", env(), stateDir)).toBeUndefined();
    // A live process that is not a nats-server.
    const sleeper = spawn("/bin/sleep", ["60"], { stdio: "ignore" });
    pids.push(sleeper.pid as number);
    await writeUpFile(stateDir, { ...upFile, embedded: true, natsPid: sleeper.pid as number });
    expect(loginForUrl(url, "operator", env(), stateDir)).toBeUndefined();
    // A nats-server, but on another store.
    other = await startNatsServer();
    await writeUpFile(stateDir, { ...upFile, embedded: true, natsPid: other.pid });
    expect(loginForUrl(url, "operator", env(), stateDir)).toBeUndefined();
    // And the real one again.
    await writeUpFile(stateDir, { ...upFile, embedded: true, natsPid: nats!.pid });
    expect(loginForUrl(url, "operator", env(), stateDir)?.user).toBe("operator");
  });

  it("once up's nats-server is killed, a listener that takes its port gets no password from the CLI", async () => {
    const { url, passwords } = await embeddedUp();
    const port = Number(new URL(url).port);
    const pid = nats!.pid;
    process.kill(pid, "SIGKILL");
    expect(await nats!.exited).toEqual({ code: null, signal: "SIGKILL" });
    expect(await waitForProcessGone(pid, 5_000)).toBe(true);
    // up.json still names this bus and its up (this process) runs: the window before up notices and stops.
    const listener = await fakeNatsOn(port);
    expect(loginForUrl(url, "operator", env(), stateDir)).toBeUndefined();
    const err = await connectCli(url, env()).catch((e: unknown) => e);
    expect(String(err)).toMatch(/cannot connect to NATS.*Authorization Violation.*this bus needs credentials/);
    expect(listener.received()).toMatch(/^CONNECT /);
    expect(listener.received()).not.toContain(passwords.operator);
    expect(listener.received()).not.toContain('"pass"');
    for (const password of Object.values(passwords)) expect(listener.received()).not.toContain(password);
  });
});

describe("upBusAuthenticator (the CLI, the stdio MCP edge, the plugin with a state dir's credentials file)", () => {
  it("gives the password while the port is up's own nats-server, and throws (no credentials) once it is not", async () => {
    const { url, passwords } = await embeddedUp();
    const auth = upBusAuthenticator(url, "client", stateDir);
    expect(auth(undefined)).toEqual({ user: "client", pass: passwords.client });
    expect(() => upBusAuthenticator("nats://127.0.0.1:1", "client", stateDir)(undefined)).toThrow(
      /the bus at nats:\/\/127\.0\.0\.1:1 is no longer claw-supervisor up's \(.*up\.json names the bus/,
    );
    const pid = nats!.pid;
    process.kill(pid, "SIGKILL");
    expect(await waitForProcessGone(pid, 5_000)).toBe(true);
    expect(() => auth(undefined)).toThrow(NotUpsBusError);
    expect(() => auth(undefined)).toThrow(
      `the bus at ${url} is no longer claw-supervisor up's (${path.join(stateDir, "up.json")} names nats-server pid ${pid}, which is not up's nats-server any more); not sending credentials`,
    );
  });

  it("the plugin with up's client.json: its connection to a listener on the port is refused, nothing sent", async () => {
    const { url } = await embeddedUp();
    const file = credentialsFile(stateDir, "client");
    expect(stateDirOfCredentialsFile(file)).toBe(stateDir);
    expect(stateDirOfCredentialsFile(path.join(stateDir, "client.json"))).toBeUndefined();
    // natsUrl unset: the state dir's up bus, not 4222.
    const config = parsePluginConfig({ natsCredentialsFile: file });
    expect(pluginNatsUrl(config)).toBe(url);
    expect(pluginNatsUrl(parsePluginConfig({}))).toBe(DEFAULT_NATS_URL);
    const login = pluginLogin(config, "/unused");
    expect(Object.keys(login).sort()).toEqual(["authenticator", "dialWhen"]);
    // Explicit users stay as they are.
    expect(pluginLogin(parsePluginConfig({ natsUser: "claw", natsPassword: "pw" }), "/unused")).toEqual({
      user: "claw",
      pass: "pw",
    });
    const nc = await connectBus({ servers: url, name: "plugin-test", ...login });
    await nc.close();

    const pid = nats!.pid;
    process.kill(pid, "SIGKILL");
    expect(await waitForProcessGone(pid, 5_000)).toBe(true);
    const listener = await fakeNatsOn(Number(new URL(url).port));
    const err = await connectBus({ servers: url, name: "plugin-test", ...pluginLogin(config, "/unused") }).catch(
      (e: unknown) => e,
    );
    expect(String(err)).toContain("is no longer claw-supervisor up's");
    expect(listener.received()).toBe("");
  });

  it("a credentials file without natsUrl and no up there: a clear error naming what to set", async () => {
    await ensureBusCredentials(stateDir);
    const config = parsePluginConfig({ natsCredentialsFile: credentialsFile(stateDir, "client") });
    expect(() => pluginNatsUrl(config)).toThrow(
      /natsCredentialsFile is set but natsUrl is not, and .* names no bus \(no .*up\.json, no ports\.json\): start 'claw-supervisor up' there, or set natsUrl/,
    );
  });
});
