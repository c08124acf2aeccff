import { createServer, type Server } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { describePortOwner, parseProcNetTcp, portIsFree, portOwner } from "./port-owner.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

/** A listener on 127.0.0.1 on a port the OS picks; resolves with that port. */
async function listen(): Promise<number> {
  const server = createServer();
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return (server.address() as { port: number }).port;
}

describe("port owner", () => {
  it("reads the listening sockets of /proc/net/tcp and tcp6, and nothing else", () => {
    const text = [
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
      "   0: 0100007F:6448 00000000:0000 0A 00000000:00000000 00:00000000 00000000   106        0 7490 1 0 100 0 0 10 0",
      "   1: 0100007F:8B2A 0100007F:6448 01 00000000:00000000 00:00000000 00000000  1000        0 9911 1 0 20 4 30 10 -1",
      "   2: 00000000000000000000000001000000:18EB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4804 1 0 100 0 0 10 0",
      "",
    ].join("\n");
    expect(parseProcNetTcp(text)).toEqual([
      { port: 0x6448, uid: 106, inode: 7490 },
      { port: 0x18eb, uid: 0, inode: 4804 },
    ]);
    expect(parseProcNetTcp("")).toEqual([]);
  });

  it("a held port is not free, and /proc names this process as its owner", async () => {
    const port = await listen();
    expect(await portIsFree("127.0.0.1", port)).toBe(false);
    const owner = portOwner(port);
    expect(owner).toMatchObject({ uid: process.getuid?.(), pid: process.pid });
    expect(describePortOwner(owner)).toMatch(new RegExp(`^pid ${process.pid} \\(.*node.*\\)$`));
    await new Promise((resolve) => servers.pop()!.close(resolve));
    expect(await portIsFree("127.0.0.1", port)).toBe(true);
    expect(portOwner(port)).toBeUndefined();
  });

  it("words an owner it cannot see into, and none", () => {
    expect(describePortOwner({ uid: 1000 })).toBe("a process of uid 1000");
    expect(describePortOwner({ uid: 0, pid: 7, command: "python3 -m http.server" })).toBe(
      "pid 7 (python3 -m http.server)",
    );
    expect(describePortOwner(undefined)).toBe("another process");
  });
});
