/** The policy service's KV-watched copy of the registry view, on a real nats-server. */
import { Kvm, type KV } from "@nats-io/kv";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { KV_BUCKET_NAMES } from "../bus/index.js";
import { useBus } from "../../test/support/bus.js";
import { eventually } from "../../test/support/wait.js";
import { sessionRecord } from "../registry/test-records.js";
import { SessionCache } from "./session-cache.js";

const bus = useBus({ ensure: true });
let kv: KV;
let cache: SessionCache;
beforeAll(async () => {
  kv = await new Kvm(bus.nc).open(KV_BUCKET_NAMES.sessions);
  cache = await SessionCache.open(bus.nc, pino({ level: "silent" }));
});
afterAll(() => cache?.stop());

const entry = (host: string, sessionId: string, summary: string) =>
  JSON.stringify({ record: sessionRecord({ host, sessionId, summary }), snapshot: {} });

it("follows puts and deletes, by host and thread or by thread alone, always the newest version", async () => {
  await kv.put("h1.t1", entry("h1", "t1", "first"));
  await kv.put("h1.t1", entry("h1", "t1", "second"));
  await eventually(() => expect(cache.get("t1", "h1")?.summary).toBe("second"));
  expect(cache.get("t1")?.summary).toBe("second");
  await kv.put("h1.t1", entry("h1", "t1", "third"));
  await eventually(() => expect(cache.get("t1")?.summary).toBe("third"));
  await kv.delete("h1.t1");
  await eventually(() => expect(cache.get("t1", "h1")).toBeUndefined());
  expect(cache.get("t1")).toBeUndefined();
});

it("knows nothing of an unreadable entry, or one whose record names another session, so the registry is asked", async () => {
  await kv.put("h2.t2", entry("h2", "t2", "readable"));
  await eventually(() => expect(cache.get("t2", "h2")?.summary).toBe("readable"));
  await kv.put("h2.t2", "{not json");
  await eventually(() => expect(cache.get("t2", "h2")).toBeUndefined());
  await kv.put("h2.t3", entry("h2", "t-other", "mislabelled"));
  await kv.put("h2.t4", entry("h2", "t4", "marker"));
  await eventually(() => expect(cache.get("t4", "h2")).toBeDefined());
  expect(cache.get("t3", "h2")).toBeUndefined();
});

it("parses a new version of a session a command asked for once it goes quiet, and no other session's", async () => {
  await kv.put("h3.t1", entry("h3", "t1", "v1"));
  await kv.put("h3.t2", entry("h3", "t2", "v1"));
  await eventually(() => expect(cache.get("t1", "h3")?.summary).toBe("v1"));
  const before = cache.parsedAhead;
  await kv.put("h3.t1", entry("h3", "t1", "v2"));
  await kv.put("h3.t2", entry("h3", "t2", "v2")); // never asked for: left as bytes
  await eventually(() => expect(cache.parsedAhead).toBe(before + 1));
  expect(cache.get("t1", "h3")?.summary).toBe("v2");
  expect(cache.parsedAhead).toBe(before + 1);
});
