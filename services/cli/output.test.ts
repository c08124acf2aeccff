import { describe, expect, it } from "vitest";
import { jsonFailure, jsonOk, wantsJson, withIsoTimes } from "./output.js";
import { closest, editDistance } from "./suggest.js";
import { shellQuote } from "./shell-words.js";

describe("CLI JSON output", () => {
  it("turns times into ISO strings, seconds and milliseconds alike, and keeps an unset one null without Ms", () => {
    expect(withIsoTimes({ startedAt: 1_800_000_000, lastSeenAt: 1_800_000_000_000, revokedAtMs: null, n: 5 })).toEqual({
      startedAt: "2027-01-15T08:00:00.000Z",
      lastSeenAt: "2027-01-15T08:00:00.000Z",
      revokedAt: null,
      n: 5,
    });
    expect(JSON.parse(jsonOk([{ atMs: 0 }]))).toEqual({ ok: true, data: [{ at: "1970-01-01T00:00:00.000Z" }] });
    // A field that says milliseconds is read as milliseconds, however small.
    expect(withIsoTimes({ deadlineAtMs: 90_000 })).toEqual({ deadlineAt: "1970-01-01T00:01:30.000Z" });
    expect(jsonFailure("usage", "bad", {}, true)).toBe('{"ok":false,"code":"usage","message":"bad"}\n');
  });

  it("sees --json and -o json (before any --) as asking for JSON", () => {
    for (const argv of [
      ["--json"],
      ["x", "-o", "json"],
      ["-ojson"],
      ["-o=json"],
      ["--output", "json"],
      ["--output=json"],
    ])
      expect(wantsJson(argv)).toBe(true);
    for (const argv of [[], ["-o", "wide"], ["--", "--json"], ["json"]]) expect(wantsJson(argv)).toBe(false);
  });
});

describe("did you mean", () => {
  it("measures edits and picks a unique prefix or the nearest close word", () => {
    expect(editDistance("sesions", "sessions")).toBe(1);
    expect(editDistance("", "abc")).toBe(3);
    expect(closest("ses", ["sessions", "send", "spawn"])).toBe("sessions");
    expect(closest("se", ["sessions", "send"])).toBeUndefined();
    expect(closest("hsots", ["hosts", "sessions"])).toBe("hosts");
    expect(closest("frobnicate", ["hosts", "sessions"])).toBeUndefined();
  });
});

describe("shellQuote", () => {
  it("leaves safe words alone and single-quotes the rest", () => {
    expect(shellQuote("abc-1.2/x=y")).toBe("abc-1.2/x=y");
    expect(shellQuote("it's $x")).toBe("'it'\\''s $x'");
    expect(shellQuote("")).toBe("''");
  });
});
