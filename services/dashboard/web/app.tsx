/**
 * The page's shell: sign-in while signed out; else a header with the navigation, the connection indicator
 * (`conn-status`: live, connecting, reconnecting), who is signed in and sign-out, and the routed view in <main>.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef } from "preact/hooks";
import { AttentionView } from "./attention.js";
import { AuditView } from "./audit.js";
import { BroadcastView } from "./broadcast.js";
import { FleetView } from "./fleet.js";
import { HostsView } from "./hosts.js";
import { type ConnState, signOut, useAuth, useLive } from "./live.js";
import { NoticesView } from "./notices.js";
import { type Route, useRoute } from "./router.js";
import { SessionView } from "./session.js";
import { SignIn } from "./signin.js";
import { SpawnView } from "./spawn.js";

const NAV: { view: Route["view"]; href: string; label: string; testId: string }[] = [
  { view: "attention", href: "#/", label: "Attention", testId: "nav-attention" },
  { view: "fleet", href: "#/fleet", label: "Fleet", testId: "nav-fleet" },
  { view: "spawn", href: "#/spawn", label: "Spawn", testId: "nav-spawn" },
  { view: "broadcast", href: "#/broadcast", label: "Broadcast", testId: "nav-broadcast" },
  { view: "notices", href: "#/notices", label: "Notices", testId: "nav-notices" },
  { view: "hosts", href: "#/hosts", label: "Hosts", testId: "nav-hosts" },
  { view: "audit", href: "#/audit", label: "Audit", testId: "nav-audit" },
];

const CONN_TEXT: Record<ConnState, string> = {
  live: "Live: changes show as they happen",
  connecting: "Connecting to the live view",
  reconnecting: "Connection lost: reconnecting without losing changes",
};

function ConnIndicator() {
  const { conn } = useLive();
  return (
    <span class={`conn conn-${conn}`} title={CONN_TEXT[conn]}>
      <span class="dot" aria-hidden="true" />
      <span class="visually-hidden">Connection: </span>
      <span data-testid="conn-status" role="status">
        {conn}
      </span>
    </span>
  );
}

function View(props: { route: Route }): ComponentChildren {
  const r = props.route;
  switch (r.view) {
    case "attention":
      return <AttentionView />;
    case "fleet":
      return <FleetView />;
    case "session":
      return <SessionView key={r.key} sessionKey={r.key} />;
    case "spawn":
      return <SpawnView />;
    case "broadcast":
      return <BroadcastView />;
    case "hosts":
      return <HostsView />;
    case "audit":
      return <AuditView />;
    case "notices":
      return <NoticesView />;
    case "notFound":
      return (
        <section class="view">
          <h1>Not found</h1>
          <p>
            Nothing at <code>{r.hash}</code>. <a href="#/">Back to the attention queue</a>.
          </p>
        </section>
      );
  }
}

function Shell(props: { name: string; role: string }) {
  const route = useRoute();
  const main = useRef<HTMLElement>(null);
  const first = useRef(true);
  // After a navigation, move focus to the new view's heading so keyboard and screen-reader users land in it.
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const h1 = main.current?.querySelector("h1");
    if (h1 instanceof HTMLElement) {
      h1.tabIndex = -1;
      h1.focus({ preventScroll: true });
    }
  }, [route.view, route.view === "session" ? route.key : ""]);
  const current = route.view;
  return (
    <>
      <button type="button" class="skip-link" onClick={() => main.current?.focus()}>
        Skip to content
      </button>
      <header class="top">
        <span class="brand">Claw Supervisor</span>
        <nav aria-label="Views">
          <ul>
            {NAV.map((n) => (
              <li key={n.view}>
                <a href={n.href} data-testid={n.testId} aria-current={current === n.view ? "page" : undefined}>
                  {n.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <ConnIndicator />
        <span class="who">
          {props.name} <span class="role">({props.role})</span>
        </span>
        <button type="button" class="secondary" data-testid="signout" onClick={() => void signOut()}>
          Sign out
        </button>
      </header>
      <main id="main" ref={main} tabIndex={-1}>
        <View route={route} />
      </main>
    </>
  );
}

/** The whole page. */
export function App() {
  const auth = useAuth();
  if (auth.state === "unknown") {
    return (
      <main id="main" class="loading">
        <p role="status">Loading…</p>
      </main>
    );
  }
  if (auth.state === "signedOut") return <SignIn reason={auth.reason} />;
  return <Shell name={auth.me.name} role={auth.me.role} />;
}
