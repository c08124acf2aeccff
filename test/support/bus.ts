/**
 * The bus fixture: a nats-server on a random loopback port with a temp JetStream store, a connection to it,
 * and (when asked) the project's streams and buckets. `stop()` closes every connection it opened and stops
 * the server by its pid.
 */
import { jetstream, type JetStreamClient } from "@nats-io/jetstream";
import { connect, type ConnectionOptions, type NatsConnection } from "@nats-io/transport-node";
import { ensureBus } from "../../services/bus/index.js";
import { useFixture } from "./fixture.js";
import { startNatsServer, type NatsTestServer, type StartNatsServerOptions } from "./nats-server.js";

/** The bus settings tests use when they ask for the streams and buckets with `ensure: true`. */
export const TEST_BUS_CONFIG = { eventsMaxAgeMs: 3_600_000, eventsMaxBytes: 64 * 1024 * 1024 };

/** What the bus fixture starts; everything is optional. */
export interface BusOptions {
  /** Create the project's streams and buckets: `true` for {@link TEST_BUS_CONFIG}, or `ensureBus`'s config. */
  ensure?: boolean | Parameters<typeof ensureBus>[1];
  /** Options of the nats-server (a store dir, extra config, a port). */
  server?: StartNatsServerOptions;
  /** Options of the fixture's connection `nc`. */
  connection?: Partial<ConnectionOptions>;
}

/** A running test bus. */
export interface TestBus {
  server: NatsTestServer;
  url: string;
  /** The fixture's connection. */
  nc: NatsConnection;
  js: JetStreamClient;
  /** Opens another connection to the server; closed by `stop()` unless closed before. */
  connect(opts?: Partial<ConnectionOptions>): Promise<NatsConnection>;
  /** Closes the connections, then stops the server. */
  stop(): Promise<void>;
}

/** Starts a bus; see the module comment. */
export async function startBus(opts: BusOptions = {}): Promise<TestBus> {
  const server = await startNatsServer(opts.server);
  const connections: NatsConnection[] = [];
  const open = async (o: Partial<ConnectionOptions> = {}): Promise<NatsConnection> => {
    const c = await connect({ servers: server.url, ...o });
    connections.push(c);
    return c;
  };
  try {
    const nc = await open(opts.connection);
    if (opts.ensure) await ensureBus(nc, opts.ensure === true ? TEST_BUS_CONFIG : opts.ensure);
    return {
      server,
      url: server.url,
      nc,
      js: jetstream(nc),
      connect: open,
      async stop() {
        await Promise.all(connections.splice(0).map((c) => (c.isClosed() ? undefined : c.close())));
        await server.stop();
      },
    };
  } catch (err) {
    await Promise.all(connections.map((c) => c.close()));
    await server.stop();
    throw err;
  }
}

/** A bus for every test of the enclosing suite: started before them, stopped after them. */
export function useBus(opts: BusOptions = {}): TestBus {
  return useFixture(() => startBus(opts));
}

/** A bare nats-server (no connection) for every test of the enclosing suite: started before them, stopped after them. */
export function useNatsServer(opts: StartNatsServerOptions = {}): NatsTestServer {
  return useFixture(() => startNatsServer(opts));
}
