import { describe, expect, it } from "vitest";
import { BusError } from "./errors.js";
import { isSubjectToken, subjects, subjectToken } from "./subjects.js";

describe("subjects", () => {
  it("builds every bus subject from validated tokens", () => {
    expect(subjects.sessionEvents("host-1", "thr_42")).toBe("codex.evt.host-1.thr_42");
    expect(subjects.hostSessionEvents("host-1")).toBe("codex.evt.host-1.*");
    expect(subjects.allSessionEvents()).toBe("codex.evt.>");
    expect(subjects.hostLifecycle("host-1")).toBe("codex.host.host-1");
    expect(subjects.command("interrupt")).toBe("codex.cmd.interrupt");
    expect(subjects.allCommands()).toBe("codex.cmd.*");
    expect(subjects.hostRpc("host-1")).toBe("codex.rpc.host-1");
    expect(subjects.audit("decision")).toBe("codex.audit.decision");
    expect(subjects.allAudit()).toBe("codex.audit.>");
    expect(subjects.fleet("waiting")).toBe("codex.fleet.waiting");
    expect(subjects.allFleet()).toBe("codex.fleet.>");
  });

  it("accepts UUIDs and other ordinary ids", () => {
    expect(subjects.sessionEvents("build-box_2", "0199c6c0-8f2e-7d31-a1b2-3c4d5e6f7a8b")).toBe(
      "codex.evt.build-box_2.0199c6c0-8f2e-7d31-a1b2-3c4d5e6f7a8b",
    );
  });

  const injections: [string, string][] = [
    ["empty", ""],
    ["separator", "host.evil"],
    ["trailing separator", "host."],
    ["single-token wildcard", "*"],
    ["embedded wildcard", "ho*st"],
    ["full wildcard", ">"],
    ["wildcard suffix", "host>"],
    ["space", "host 1"],
    ["tab", "host\t1"],
    ["newline (protocol injection)", "host\r\nPUB codex.rpc.x 0"],
    ["NUL", "host\u0000"],
  ];

  it.each(injections)("rejects a %s token with a typed error", (_label, bad) => {
    const attempts = [
      () => subjects.sessionEvents(bad, "t1"),
      () => subjects.sessionEvents("h1", bad),
      () => subjects.hostLifecycle(bad),
      () => subjects.command(bad),
      () => subjects.hostRpc(bad),
      () => subjects.audit(bad),
      () => subjects.fleet(bad),
    ];
    for (const attempt of attempts) {
      let caught: unknown;
      try {
        attempt();
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(BusError);
      expect((caught as BusError).code).toBe("invalid_subject_token");
      expect((caught as BusError).retryable).toBe(false);
    }
    expect(isSubjectToken(bad)).toBe(false);
  });

  it("names the offending field in the message", () => {
    expect(() => subjects.sessionEvents("h1", "a.b")).toThrow(/threadId "a\.b"/);
    expect(() => subjects.command("")).toThrow(/verb must be a non-empty string/);
  });

  it("rejects a non-string smuggled past the types", () => {
    expect(() => subjectToken("hostId", 42 as unknown as string)).toThrow(BusError);
    expect(() => subjectToken("hostId", "x".repeat(257))).toThrow(/longer than 256/);
  });
});
