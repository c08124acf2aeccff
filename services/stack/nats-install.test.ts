import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import {
  ensureNatsServer,
  natsServerInstallPlan,
  natsServerSearchPath,
  NatsServerMissingError,
  SUDO_INSTALL_COMMAND,
} from "./nats-install.js";

const tmp: string[] = [];
afterEach(() => {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A bin dir holding `scripts` (name → shell body), each executable. */
function binDir(scripts: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), "claw-nats-install-"));
  tmp.push(dir);
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(path.join(dir, name), 0o755);
  }
  return dir;
}

const has =
  (...names: string[]) =>
  (name: string): boolean =>
    names.includes(name);

describe("what up does without nats-server", () => {
  it("installs with /usr/bin/apt-get as root, after updating the package lists; then disables the package's open service", () => {
    expect(natsServerInstallPlan({ uid: 0, hasCommand: has("apt-get") })).toEqual({
      kind: "install",
      commands: [
        ["/usr/bin/apt-get", "update"],
        ["/usr/bin/apt-get", "install", "-y", "nats-server"],
      ],
    });
    expect(natsServerInstallPlan({ uid: 0, hasCommand: has("apt-get", "systemctl") })).toEqual({
      kind: "install",
      commands: [
        ["/usr/bin/apt-get", "update"],
        ["/usr/bin/apt-get", "install", "-y", "nats-server"],
      ],
      disable: ["/usr/bin/systemctl", "disable", "--now", "nats-server"],
    });
    expect(natsServerInstallPlan({ uid: 0, hasCommand: has("apt-get", "sudo") }).kind).toBe("install");
  });

  it("never runs sudo: a user is told the exact command", () => {
    expect(natsServerInstallPlan({ uid: 1000, hasCommand: has("apt-get", "sudo") })).toEqual({
      kind: "instruct",
      command: "sudo apt-get install -y nats-server",
    });
    expect(SUDO_INSTALL_COMMAND).toBe("sudo apt-get install -y nats-server");
    expect(natsServerInstallPlan({ uid: 1000, hasCommand: has("apt-get") })).toEqual({
      kind: "instruct",
      command: "su -c 'apt-get install -y nats-server'",
    });
  });

  it("without apt-get (or off POSIX) points at the release downloads", () => {
    expect(natsServerInstallPlan({ uid: 0, hasCommand: has("sudo", "dnf") })).toEqual({ kind: "manual" });
    expect(natsServerInstallPlan({ uid: 1000, hasCommand: has() })).toEqual({ kind: "manual" });
    expect(natsServerInstallPlan({ uid: undefined, hasCommand: has("apt-get") })).toEqual({ kind: "manual" });
  });

  it("looks on PATH, then in the sbin dirs Debian installs into; CLAW_SUPERVISOR_NATS_PATH replaces both", () => {
    expect(natsServerSearchPath({ PATH: "/usr/bin:/bin" })).toBe("/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin");
    expect(natsServerSearchPath({})).toBe("/usr/local/sbin:/usr/sbin:/sbin");
    expect(natsServerSearchPath({ PATH: "/usr/bin", CLAW_SUPERVISOR_NATS_PATH: "/opt/nats" })).toBe("/opt/nats");
  });

  it("finds an installed one without asking anything", async () => {
    const bin = binDir({ "nats-server": "exit 0" });
    const said: string[] = [];
    const found = await ensureNatsServer({
      env: { PATH: "/nowhere", CLAW_SUPERVISOR_NATS_PATH: bin },
      uid: 1000,
      say: (l) => said.push(l),
      out: () => undefined,
    });
    expect(found).toBe(path.join(bin, "nats-server"));
    expect(said).toEqual([]);
  });

  it("as root runs apt-get (saying so first), then uses what it installed", async () => {
    const nats = binDir({});
    const log = path.join(nats, "apt.log");
    // A stand-in apt-get: records its arguments, and "installs" a nats-server where up looks.
    const apt = binDir({
      "apt-get": `echo "$DEBIAN_FRONTEND $*" >> ${log}\n[ "$1" = install ] && printf '#!/bin/sh\\n' > ${nats}/nats-server && chmod 755 ${nats}/nats-server\necho "apt says hi"`,
      systemctl: `echo "systemctl $*" >> ${log}`,
    });
    // An apt-get first on PATH (a user's directory, kept by sudo -E): root never runs it.
    const ranPath = path.join(nats, "path-apt-ran");
    const pathApt = binDir({ "apt-get": `touch ${ranPath}`, systemctl: `touch ${ranPath}` });
    const said: string[] = [];
    let out = "";
    const found = await ensureNatsServer({
      env: { PATH: `${pathApt}:/usr/bin:/bin`, CLAW_SUPERVISOR_NATS_PATH: nats },
      uid: 0,
      say: (l) => said.push(l),
      out: (t) => void (out += t),
      programs: { aptGet: path.join(apt, "apt-get"), systemctl: path.join(apt, "systemctl") },
    });
    expect(found).toBe(path.join(nats, "nats-server"));
    expect(readFileSync(log, "utf8")).toBe(
      "noninteractive update\nnoninteractive install -y nats-server\nsystemctl disable --now nats-server\n",
    );
    expect(() => readFileSync(ranPath)).toThrow();
    const aptGet = path.join(apt, "apt-get");
    expect(said[0]).toBe(
      `nats-server was not found in $CLAW_SUPERVISOR_NATS_PATH (${nats}); installing it: ${aptGet} update && ${aptGet} install -y nats-server`,
    );
    expect(said[1]).toBe(
      `stopping the nats-server system service the package started (open, on 4222): ${path.join(apt, "systemctl")} disable --now nats-server`,
    );
    expect(said[2]).toBe(`installed ${path.join(nats, "nats-server")}`);
    expect(out).toContain("apt says hi");
  });

  it("as root, a systemctl that cannot disable the service is reported, and up goes on", async () => {
    const nats = binDir({});
    const apt = binDir({
      "apt-get": `[ "$1" = install ] && printf '#!/bin/sh\\n' > ${nats}/nats-server && chmod 755 ${nats}/nats-server; exit 0`,
      systemctl: 'echo "System has not been booted with systemd" >&2; exit 1',
    });
    const said: string[] = [];
    let out = "";
    const found = await ensureNatsServer({
      env: { PATH: "/usr/bin:/bin", CLAW_SUPERVISOR_NATS_PATH: nats },
      uid: 0,
      say: (l) => said.push(l),
      out: (t) => void (out += t),
      programs: { aptGet: path.join(apt, "apt-get"), systemctl: path.join(apt, "systemctl") },
    });
    expect(found).toBe(path.join(nats, "nats-server"));
    expect(said[2]).toMatch(
      /disable --now nats-server' failed \(exit 1\): the package's nats-server.service may still serve 127\.0\.0\.1:4222 without authorization; stop it yourself: systemctl disable --now nats-server$/,
    );
    expect(out).toContain("System has not been booted with systemd");
  });

  it("as root without systemctl, installs and runs no systemctl", async () => {
    const nats = binDir({});
    const apt = binDir({
      "apt-get": `[ "$1" = install ] && printf '#!/bin/sh\\n' > ${nats}/nats-server && chmod 755 ${nats}/nats-server; exit 0`,
    });
    const said: string[] = [];
    await ensureNatsServer({
      env: { PATH: "/usr/bin:/bin", CLAW_SUPERVISOR_NATS_PATH: nats },
      uid: 0,
      say: (l) => said.push(l),
      out: () => undefined,
      programs: { aptGet: path.join(apt, "apt-get"), systemctl: path.join(apt, "systemctl") },
    });
    expect(said).toHaveLength(2);
    expect(said.join("\n")).not.toContain("systemctl");
  });

  it("as root, a failing apt-get is reported with what to run instead", async () => {
    const apt = binDir({ "apt-get": 'echo "E: Unable to locate package nats-server" >&2; exit 100' });
    const aptGet = path.join(apt, "apt-get");
    const err = await ensureNatsServer({
      env: { PATH: "/usr/bin:/bin", CLAW_SUPERVISOR_NATS_PATH: binDir({}) },
      uid: 0,
      say: () => undefined,
      out: () => undefined,
      programs: { aptGet, systemctl: path.join(apt, "systemctl") },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NatsServerMissingError);
    expect((err as Error).message).toContain(
      `'${aptGet} update' failed (exit 100): install nats-server yourself (${aptGet} install -y nats-server, or download`,
    );
  });

  it("as a user, prints the sudo line and runs nothing", async () => {
    const ran = path.join(binDir({}), "ran");
    const bin = binDir({ "apt-get": `touch ${ran}`, sudo: `touch ${ran}` });
    const err = await ensureNatsServer({
      env: { PATH: `${bin}:/usr/bin:/bin`, CLAW_SUPERVISOR_NATS_PATH: binDir({}) },
      uid: 1000,
      say: () => undefined,
      out: () => undefined,
      programs: { aptGet: path.join(bin, "apt-get"), systemctl: path.join(bin, "systemctl") },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NatsServerMissingError);
    expect((err as Error).message).toMatch(
      /Install it \(Debian\/Ubuntu\), then start 'claw-supervisor up' again:\n {4}sudo apt-get install -y nats-server$/,
    );
    expect(() => readFileSync(ran)).toThrow();
  });
});
