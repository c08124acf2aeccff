/**
 * The built page (`npm run build` puts it in dist/dashboard/web): `/assets/*` (content-hashed file names) cached
 * for a year as immutable, and `/` serving index.html with `no-cache`, so a new build is picked up at the next load.
 * Without a built page `/` answers 503 saying how to build it. Served by @fastify/static.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance } from "fastify";

/** Where the package's build puts the page: `<package>/dist/dashboard/web` (found upward from this file). */
export function defaultWebDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, "package.json")) && existsSync(path.join(dir, "services")))
      return path.join(dir, "dist", "dashboard", "web");
    if (path.basename(dir) === "dist") return path.join(dir, "dashboard", "web");
    dir = path.dirname(dir);
  }
  return path.resolve("dist", "dashboard", "web");
}

/** Registers `/` and `/assets/*` from `webDir`. */
export async function registerStaticRoutes(app: FastifyInstance, webDir: string): Promise<void> {
  await app.register(fastifyStatic, {
    root: path.join(webDir, "assets"),
    prefix: "/assets/",
    index: false,
    cacheControl: true,
    maxAge: 31_536_000_000,
    immutable: true,
    decorateReply: true,
    wildcard: true,
    dotfiles: "deny",
  });
  app.get("/", async (_req, reply) => {
    if (!existsSync(path.join(webDir, "index.html")))
      return reply
        .code(503)
        .type("text/plain; charset=utf-8")
        .header("cache-control", "no-store")
        .send("the dashboard page is not built: run npm run build\n");
    return reply.header("cache-control", "no-cache").sendFile("index.html", webDir, { cacheControl: false });
  });
}
