/**
 * The dashboard server for bench/dashboard.ts, in its own process (forked): `startDashboard` on its own bus
 * connection, serving the built page (argv: NATS_URL WEB_DIR), on a free loopback port with a fresh cookie secret.
 * Says `{url}` over IPC when it listens; stops on "stop".
 */
import { randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { pino } from "pino";
import { startDashboard } from "../services/dashboard/server/index.js";

const [natsUrl, webDir] = process.argv.slice(2);
if (!natsUrl || !webDir) throw new Error("usage: dashboard-process.js NATS_URL WEB_DIR");
const nc = await connect({ servers: natsUrl, name: "bench-dashboard" });
const dashboard = await startDashboard({
  nc,
  host: "127.0.0.1",
  port: 0,
  cookieSecret: randomBytes(32).toString("base64url"),
  webDir,
  logger: pino({ level: "warn" }, pino.destination(2)),
});
process.on("message", (msg: unknown) => {
  if (msg !== "stop") return;
  void dashboard
    .stop()
    .then(() => nc.close())
    .then(() => process.exit(0));
});
process.send?.({ url: dashboard.url });
