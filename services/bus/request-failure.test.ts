import { NoRespondersError, RequestError, TimeoutError } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { classifyRequestFailure } from "./request-failure.js";

describe("classifyRequestFailure", () => {
  it("names a request's failure by the error's type, whatever its text", () => {
    expect(classifyRequestFailure(new NoRespondersError("codex.cmd.send"))).toBe("no_responders");
    expect(classifyRequestFailure(new RequestError("x", { cause: new NoRespondersError("s") }))).toBe("no_responders");
    expect(classifyRequestFailure(new TimeoutError())).toBe("timeout");
    expect(classifyRequestFailure(new SyntaxError("Unexpected token"))).toBe("bad_reply");
    expect(classifyRequestFailure(new Error("timeout: a message that only looks like one"))).toBe("other");
    expect(classifyRequestFailure("not an error")).toBe("other");
  });
});
