import { afterEach, describe, expect, it } from "vitest";
import { CodexRpcError, connectCodex, type CodexRpcClient } from "./index.js";

const clients: CodexRpcClient[] = [];
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

/** A tiny stdio peer: answers each request line with `reply(request)` written by the test. */
function stdioPeer(script: string) {
  return {
    kind: "stdio" as const,
    command: process.execPath,
    args: [
      "-e",
      `const rl=require("readline").createInterface({input:process.stdin});rl.on("line",(l)=>{const m=JSON.parse(l);${script}});`,
    ],
  };
}

async function open(script: string, maxFrameBytes?: number): Promise<CodexRpcClient> {
  const client = await connectCodex(stdioPeer(script), maxFrameBytes ? { maxFrameBytes } : {});
  clients.push(client);
  return client;
}

describe("stdio transport", () => {
  it("speaks newline-delimited JSON with a spawned command", async () => {
    const client = await open(
      `if(m.id!==undefined)process.stdout.write(JSON.stringify({id:m.id,result:{data:["t1"],nextCursor:null}})+"\\n");`,
    );
    await expect(client.request("thread/loaded/list", {})).resolves.toEqual({ data: ["t1"], nextCursor: null });
  });

  it("fails pending requests with `closed` when the command exits, naming its last stderr line", async () => {
    const client = await open(`process.stderr.write("boom: cannot continue\\n");process.exit(3);`);
    const err = await client.request("thread/loaded/list", {}).catch((e: unknown) => e as CodexRpcError);
    expect(err).toBeInstanceOf(CodexRpcError);
    expect((err as CodexRpcError).code).toBe("closed");
    expect((err as CodexRpcError).message).toMatch(/exited \(code 3\): boom: cannot continue/);
  });

  it("fails the connection with `too_large` on a line over the cap and stops the command", async () => {
    const client = await open(`process.stdout.write("x".repeat(5000));`, 1024);
    const err = await client.request("thread/loaded/list", {}).catch((e: unknown) => e as CodexRpcError);
    expect((err as CodexRpcError).code).toBe("too_large");
    expect(client.isOpen).toBe(false);
  });

  it("reports a command that cannot start", async () => {
    const err = await connectCodex({ kind: "stdio", command: "/nonexistent/codex", args: [] }).catch((e: unknown) => e);
    expect((err as CodexRpcError).code).toBe("closed");
    expect((err as CodexRpcError).message).toContain("cannot start stdio:/nonexistent/codex");
  });
});
