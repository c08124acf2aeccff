/**
 * A JetStream cluster whose nodes can be killed with SIGKILL and started again with the same name, ports and
 * store, as a crashed node comes back: what failover tests need. Each node's store lives in the cluster's own
 * temp dir (kept across a node's restarts, removed by `stop()`).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePorts, startNatsServer, type NatsTestServer } from "./nats-server.js";
import { waitForProcessGone } from "./processes.js";

/** A running cluster with restartable nodes. */
export interface RestartableCluster {
  urls: string[];
  /** The node's current server (a new object after each restart). */
  node(i: number): NatsTestServer;
  /** SIGKILLs node `i` and waits until its process is gone. */
  kill(i: number): Promise<void>;
  /** Starts node `i` again with its name, ports and store. */
  restart(i: number): Promise<void>;
  /** Index of the node whose server name is `name`. */
  indexOf(serverName: string): number;
  /** Node `i`'s server name (what stream cluster info calls it). */
  serverName(i: number): string;
  stop(): Promise<void>;
}

/** Starts a `size`-node cluster on loopback; resolves once every node accepts clients. */
export async function startRestartableCluster(size = 3, opts: { config?: string } = {}): Promise<RestartableCluster> {
  const dir = await mkdtemp(join(tmpdir(), "claw-cluster-"));
  const ports = await freePorts(size * 3);
  const clientPorts = ports.slice(0, size);
  const routePorts = ports.slice(size, 2 * size);
  const name = `claw-failover-${process.pid}-${routePorts[0]}`;
  const nodeName = (i: number): string => `${name}-n${i + 1}`;
  const nodes: (NatsTestServer | undefined)[] = new Array(size).fill(undefined);
  const start = async (i: number): Promise<void> => {
    nodes[i] = await startNatsServer({
      serverName: nodeName(i),
      port: clientPorts[i],
      storeDir: join(dir, `n${i + 1}`),
      cluster: { name, port: routePorts[i] as number, routePorts: routePorts.filter((_, j) => j !== i) },
      monitoring: true,
      startTimeoutMs: 30_000,
      ...(opts.config === undefined ? {} : { config: opts.config }),
    });
  };
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n?.stop()));
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await Promise.all(nodes.map((_, i) => start(i)));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    urls: clientPorts.map((p) => `nats://127.0.0.1:${p}`),
    node(i) {
      const n = nodes[i];
      if (!n) throw new Error(`node ${i} is not running`);
      return n;
    },
    async kill(i) {
      const n = nodes[i];
      if (!n) throw new Error(`node ${i} is not running`);
      process.kill(n.pid, "SIGKILL");
      if (!(await waitForProcessGone(n.pid, 10_000))) throw new Error(`node ${i} (pid ${n.pid}) survived SIGKILL`);
      await n.stop(); // removes only its temp config dir: the store is the cluster's
      nodes[i] = undefined;
    },
    restart: start,
    serverName: nodeName,
    indexOf(serverName) {
      for (let i = 0; i < size; i++) if (nodeName(i) === serverName) return i;
      return -1;
    },
    stop,
  };
}
