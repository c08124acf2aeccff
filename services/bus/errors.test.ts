import { JetStreamApiError } from "@nats-io/jetstream";
import { jserrors } from "@nats-io/jetstream/internal";
import { TimeoutError } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { BusError, JsErrCode, jsApiErrCode, toBusError } from "./errors.js";

const apiError = (err_code: number, code = 500, description = "server text that must not matter") =>
  new JetStreamApiError({ code, err_code, description });

describe("BusError", () => {
  it("keeps code, retryable flag and cause", () => {
    const cause = new Error("root");
    const err = new BusError("timeout", "took too long", { retryable: true, cause });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe("BusError");
    expect(err.code).toBe("timeout");
    expect(err.retryable).toBe(true);
    expect(err.cause).toBe(cause);
  });
});

describe("toBusError", () => {
  it("classifies JetStream API errors by err_code, not by text", () => {
    const unavailable = toBusError(apiError(JsErrCode.ClusterNotAvailable, 503), "ensure");
    expect(unavailable.code).toBe("jetstream_unavailable");
    expect(unavailable.retryable).toBe(true);
    expect(unavailable.apiErrCode).toBe(10008);

    const notFound = toBusError(apiError(JsErrCode.StreamNotFound, 404, "stream not found"), "info");
    expect(notFound.code).toBe("jetstream_api");
    expect(notFound.retryable).toBe(false);
    expect(jsApiErrCode(notFound.cause)).toBe(10059);

    expect(toBusError(apiError(JsErrCode.NotEnabledForAccount), "x").code).toBe("jetstream_unavailable");
  });

  it("knows JetStream API errors by class, subclasses too, without loading JetStream itself", () => {
    const missing = jserrors.StreamNotFoundError.fromMessage("stream not found");
    expect(jsApiErrCode(missing)).toBe(JsErrCode.StreamNotFound);
    expect(toBusError(missing, "info")).toMatchObject({ code: "jetstream_api", apiErrCode: JsErrCode.StreamNotFound });
    const consumer = new jserrors.ConsumerNotFoundError({
      code: 404,
      err_code: JsErrCode.ConsumerNotFound,
      description: "x",
    });
    expect(jsApiErrCode(consumer)).toBe(JsErrCode.ConsumerNotFound);
    // Another error that merely carries the name is not one.
    const named = Object.assign(new Error("lookalike"), { name: "JetStreamApiError" });
    expect(jsApiErrCode(named)).toBeUndefined();
    expect(toBusError(named, "x").apiErrCode).toBeUndefined();
  });

  it("marks timeouts retryable and passes BusErrors through unchanged", () => {
    expect(toBusError(new TimeoutError(), "request")).toMatchObject({ code: "timeout", retryable: true });
    const original = new BusError("server_too_old", "old");
    expect(toBusError(original, "ctx")).toBe(original);
  });

  it("prefixes the message with the context", () => {
    expect(toBusError(new Error("boom"), "ensure stream AUDIT").message).toBe("ensure stream AUDIT: boom");
  });
});
