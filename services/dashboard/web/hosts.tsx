/**
 * `#/hosts`: every host the registry knows: its status, agent and app-server, last heartbeat, and how many
 * sessions it holds (the registry's count and the live view's).
 */
import { useId } from "preact/hooks";
import { useLive } from "./live.js";
import { relativeTime, useNow } from "./relative-time.js";
import "./views.css";

const when = (ms: number | null) =>
  ms === null ? (
    "—"
  ) : (
    <time dateTime={new Date(ms).toISOString()} title={new Date(ms).toLocaleString()}>
      {relativeTime(ms)}
    </time>
  );

/** The view. */
export function HostsView() {
  const live = useLive();
  const id = useId();
  // Re-render as the relative times age (a local clock, not a poll).
  useNow();
  const perHost = new Map<string, number>();
  for (const s of live.sessions.values()) perHost.set(s.record.host, (perHost.get(s.record.host) ?? 0) + 1);
  const hosts = [...live.hosts.values()].sort((a, b) => a.key.localeCompare(b.key));
  return (
    <section class="view hosts-view" aria-labelledby={`${id}-h`}>
      <h1 id={`${id}-h`}>Hosts</h1>
      {hosts.length === 0 ? (
        <p class="empty">{live.conn === "live" ? "No host has joined the fleet." : "Waiting for the live view…"}</p>
      ) : (
        <div class="table-scroll">
          <table class="hosts">
            <caption>{hosts.length === 1 ? "1 host" : `${hosts.length} hosts`}</caption>
            <thead>
              <tr>
                <th scope="col">Host</th>
                <th scope="col">Status</th>
                <th scope="col">Hostname</th>
                <th scope="col">Agent</th>
                <th scope="col">App-server</th>
                <th scope="col">Last heartbeat</th>
                <th scope="col">Connected</th>
                <th scope="col">Sessions</th>
              </tr>
            </thead>
            <tbody>
              {hosts.map((h) => {
                const r = h.record;
                return (
                  <tr key={h.key} data-testid="host-row" data-host={r.hostId} data-status={r.status}>
                    <th scope="row" class="mono">
                      {r.hostId}
                    </th>
                    <td>
                      <span class={`badge host-${r.status}`}>{r.status}</span>
                    </td>
                    <td>{r.hostname ?? "—"}</td>
                    <td>{r.agentVersion ?? "—"}</td>
                    <td>{r.appServer ?? "unknown"}</td>
                    <td>{when(r.lastHeartbeatAt)}</td>
                    <td>{when(r.connectedAt)}</td>
                    <td>
                      {r.sessions}
                      {perHost.has(r.hostId) && perHost.get(r.hostId) !== r.sessions && (
                        <span class="hint"> ({perHost.get(r.hostId)} in view)</span>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
