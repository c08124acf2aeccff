/**
 * The innermost interceptors with fakes around them: when the decision record is written relative to the command
 * acting, and a read that goes on while its rate-limit tokens are taken. (policy-service.test.ts runs the whole
 * service on a real nats-server.)
 */
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { type CommandResult, parseCommand } from "../../schemas/commands.js";
import { DEFAULT_POLICY } from "../../schemas/policy.js";
import type { JetStreamPublisher } from "../bus/index.js";
import { sessionRecord } from "../registry/test-records.js";
import { AuditLog } from "./audit-log.js";
import { decisionRecorded, rateLimits } from "./interceptors.js";
import { type CommandContext, chain, type Next } from "./pipeline.js";
import type { BucketRequest, RateLimiter, TakesResult } from "./shared-state.js";

const quiet = pino({ level: "silent" });

/** A promise settled from outside. */
function later<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** An AUDIT writer whose publishes wait until the test acks or fails them; `log` says what happened, in order. */
function fakeAudit(log: string[]) {
  const pending = new Map<string, ReturnType<typeof later<{ stream: string; seq: number; duplicate: boolean }>>>();
  const publisher = {
    publish(subject: string) {
      const kind = subject.split(".").pop()!;
      log.push(`publish ${kind}`);
      const p = later<{ stream: string; seq: number; duplicate: boolean }>();
      pending.set(kind, p);
      return p.promise;
    },
  } as unknown as JetStreamPublisher;
  return {
    audit: new AuditLog(publisher, "test", quiet),
    ack: (kind: string) => pending.get(kind)!.resolve({ stream: "AUDIT", seq: 1, duplicate: false }),
    fail: (kind: string) => pending.get(kind)!.reject(new Error(`${kind} refused`)),
  };
}

/** A context as the outer interceptors leave it: target resolved, request record out, key claimed, allowed. */
function context(verb: "send" | "read", args: unknown, requestWritten: Promise<void>): CommandContext {
  const parsed = parseCommand({ verb, caller: { id: "alice", role: "operator" }, idempotencyKey: "key-00001", args });
  if (!parsed.ok) throw new Error(parsed.failure.message);
  return {
    request: parsed.request,
    commandId: "c1",
    attempt: "a1",
    policy: DEFAULT_POLICY,
    target: sessionRecord({ sessionId: "t1", host: "h1" }),
    decision: { allow: true, ruleId: "operator-all" },
    before: [requestWritten],
    after: [],
    claim: Promise.resolve({ claimed: true }),
    admitted: null,
    targetLookup: null,
    acting: false,
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("decisionRecorded: a command acts once its request record is stored; its decision goes out just before it", () => {
  it("publishes the decision, then forwards the command in the same tick, and answers once the decision is acked", async () => {
    const log: string[] = [];
    const { audit, ack } = fakeAudit(log);
    const request = later<void>();
    const ctx = context("send", { target: { sessionId: "t1" }, text: "hi" }, request.promise);
    const host = later<CommandResult>();
    const handler: Next = () => {
      log.push("forward");
      return host.promise;
    };
    let answered: CommandResult | undefined;
    const answer = chain([decisionRecorded(audit, quiet)], handler)(ctx).then((r) => (answered = r));
    await tick();
    expect(log).toEqual([]); // nothing acts, and no decision is written, before the request record is stored
    request.resolve();
    await tick();
    expect(log).toEqual(["publish decision", "forward"]);
    expect(ctx.acting).toBe(true);
    host.resolve({ ok: true, data: { turnId: "x" } });
    await tick();
    expect(answered).toBeUndefined(); // the decision is not acked yet
    ack("decision");
    await answer;
    expect(answered).toEqual({ ok: true, data: { turnId: "x" } });
    expect(ctx.after).toHaveLength(0);
  });

  it("runs nothing and writes no decision when the request record cannot be stored", async () => {
    const log: string[] = [];
    const { audit } = fakeAudit(log);
    const ctx = context("send", { target: { sessionId: "t1" }, text: "hi" }, Promise.reject(new Error("no AUDIT")));
    const result = await chain([decisionRecorded(audit, quiet)], async () => {
      log.push("forward");
      return { ok: true, data: {} };
    })(ctx);
    expect(result).toMatchObject({ ok: false, code: "timeout", message: expect.stringMatching(/nothing was run/) });
    expect(log).toEqual([]);
    expect(ctx.acting).toBe(false);
  });

  it("keeps the result of a command that acted when its decision write fails, and writes the decision again after", async () => {
    const log: string[] = [];
    const { audit, fail } = fakeAudit(log);
    const ctx = context("send", { target: { sessionId: "t1" }, text: "hi" }, Promise.resolve());
    const answer = chain([decisionRecorded(audit, quiet)], async () => ({ ok: true, data: { turnId: "y" } }))(ctx);
    await tick();
    fail("decision");
    expect(await answer).toEqual({ ok: true, data: { turnId: "y" } });
    expect(ctx.after).toHaveLength(1);
    void ctx.after[0]!();
    expect(log).toEqual(["publish decision", "publish decision"]);
  });
});

describe("a read asks its host while its rate-limit tokens are taken", () => {
  const limiter = (knownRefusal: boolean, taken: Promise<TakesResult>): RateLimiter & { takes: number } => {
    const l = {
      takes: 0,
      refusedNow: (requests: readonly BucketRequest[]) =>
        knownRefusal ? { ok: false as const, refused: requests[0]!, retryAfterMs: 500 } : null,
      take: () => {
        l.takes++;
        return taken;
      },
    };
    return l;
  };

  it("withholds the read's result when the tokens turn out to be gone, and records the refusal as the decision", async () => {
    const log: string[] = [];
    const { audit, ack } = fakeAudit(log);
    const taken = later<TakesResult>();
    const rates = limiter(false, taken.promise);
    const ctx = context("read", { target: { sessionId: "t1" } }, Promise.resolve());
    const answer = chain([rateLimits(rates), decisionRecorded(audit, quiet)], async () => {
      log.push("read");
      return { ok: true, data: { turns: ["SECRET-TRANSCRIPT"] } };
    })(ctx);
    await tick();
    expect(log).toEqual(["read"]); // asked at once, no decision written while the takes are out
    taken.resolve({
      ok: false,
      refused: { kind: "target", id: "h1.t1", spec: { burst: 1, perSecond: 1 } },
      retryAfterMs: 800,
    });
    const result = await answer;
    expect(result).toMatchObject({
      ok: false,
      code: "rate_limited",
      message: expect.stringMatching(/retry in 800 ms/),
    });
    expect(JSON.stringify(result)).not.toMatch(/SECRET-TRANSCRIPT/);
    expect(ctx.acting).toBe(false);
    expect(ctx.decision).toMatchObject({ allow: false, code: "rate_limited" });
    expect(log).toEqual(["read"]); // no allow decision was written
    void ack;
  });

  it("answers the read once its tokens are taken and its decision stored", async () => {
    const log: string[] = [];
    const { audit, ack } = fakeAudit(log);
    const taken = later<TakesResult>();
    const ctx = context("read", { target: { sessionId: "t1" } }, Promise.resolve());
    const answer = chain([rateLimits(limiter(false, taken.promise)), decisionRecorded(audit, quiet)], async () => {
      log.push("read");
      return { ok: true, data: { turns: [] } };
    })(ctx);
    await tick();
    taken.resolve({ ok: true });
    await tick();
    expect(log).toEqual(["read", "publish decision"]);
    ack("decision");
    expect(await answer).toEqual({ ok: true, data: { turns: [] } });
    expect(ctx.acting).toBe(true);
  });

  it("refuses a read its instance already knows to be over the limit without asking the host", async () => {
    const log: string[] = [];
    const { audit } = fakeAudit(log);
    const rates = limiter(true, Promise.resolve({ ok: true }));
    const ctx = context("read", { target: { sessionId: "t1" } }, Promise.resolve());
    const result = await chain([rateLimits(rates), decisionRecorded(audit, quiet)], async () => {
      log.push("read");
      return { ok: true, data: {} };
    })(ctx);
    expect(result).toMatchObject({ ok: false, code: "rate_limited" });
    expect(log).toEqual([]);
    expect(rates.takes).toBe(0);
  });

  it("waits for the takes of a command that changes something before it acts", async () => {
    const log: string[] = [];
    const { audit, ack } = fakeAudit(log);
    const taken = later<TakesResult>();
    const ctx = context("send", { target: { sessionId: "t1" }, text: "hi" }, Promise.resolve());
    const answer = chain([rateLimits(limiter(false, taken.promise)), decisionRecorded(audit, quiet)], async () => {
      log.push("forward");
      return { ok: true, data: {} };
    })(ctx);
    await tick();
    expect(log).toEqual([]);
    taken.resolve({ ok: true });
    await tick();
    expect(log).toEqual(["publish decision", "forward"]);
    ack("decision");
    expect(await answer).toEqual({ ok: true, data: {} });
  });
});
