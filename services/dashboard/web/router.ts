/**
 * The page's hash routes: `#/` attention (the first screen), `#/fleet`, `#/session/<key>`, `#/spawn`,
 * `#/broadcast`, `#/hosts`, `#/audit`, `#/notices`. `parseRoute` is pure; `useRoute` follows `hashchange`.
 */
import { useEffect, useState } from "preact/hooks";

/** Where the page is. */
export type Route =
  | { view: "attention" }
  | { view: "fleet" }
  | { view: "session"; key: string }
  | { view: "spawn" }
  | { view: "broadcast" }
  | { view: "hosts" }
  | { view: "audit" }
  | { view: "notices" }
  | { view: "notFound"; hash: string };

const SIMPLE = new Set(["fleet", "spawn", "broadcast", "hosts", "audit", "notices"]);

/** The route a location hash names. Pure. */
export function parseRoute(hash: string): Route {
  const path = hash.replace(/^#/, "").replace(/^\/+/, "").split("?")[0] ?? "";
  if (path === "" || path === "attention") return { view: "attention" };
  if (path.startsWith("session/")) {
    let key = path.slice("session/".length);
    try {
      key = decodeURIComponent(key);
    } catch {
      // not percent-encoded: the raw key
    }
    return key === "" ? { view: "notFound", hash } : { view: "session", key };
  }
  if (SIMPLE.has(path)) return { view: path } as Route;
  return { view: "notFound", hash };
}

/** The current route, re-rendering on `hashchange`. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseRoute(location.hash));
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}
