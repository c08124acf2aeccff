/**
 * Test support: one gateway as its own process, so a test can kill it (SIGKILL) the way a crash would: its
 * sockets drop at once and nothing it held is released. Started by test-gateway-process.ts with its options
 * as JSON in argv[2]; prints one JSON line `{url, gatewayId}` once listening; SIGTERM stops it cleanly.
 */
import { pino } from "pino";
import { startGateway, type GatewayOptions } from "./server.js";

const options = JSON.parse(process.argv[2] ?? "{}") as GatewayOptions;
const gateway = await startGateway({
  ...options,
  port: 0,
  logger: pino({ level: process.env.GATEWAY_LOG_LEVEL ?? "info" }, pino.destination(2)),
});
process.stdout.write(`${JSON.stringify({ url: gateway.url, gatewayId: gateway.gatewayId })}\n`);
process.once("SIGTERM", () => {
  void gateway.stop().then(() => process.exit(0));
});
