/**
 * `#/spawn`: start an autonomous session: on a chosen live host, or the least-loaded online host (optionally one
 * with sessions in a repo), in an absolute workspace, with its task and group. Shows the outcome, the new
 * session's attach command and a link to it.
 */
import { useId, useState } from "preact/hooks";
import { SpawnArgs, issuesText } from "../../../schemas/commands.js";
import { CommandResult, useCanControl, useCommand } from "./controls.js";
import { useLive } from "./live.js";
import "./views.css";

/** The view. A viewer sees why there is nothing to do here. */
export function SpawnView() {
  const live = useLive();
  const can = useCanControl();
  const id = useId();
  const [host, setHost] = useState("");
  const [repo, setRepo] = useState("");
  const [cwd, setCwd] = useState("");
  const [task, setTask] = useState("");
  const [group, setGroup] = useState("");
  const [touched, setTouched] = useState(false);
  const [state, run] = useCommand("spawn");

  const hosts = [...live.hosts.values()].sort((a, b) => a.key.localeCompare(b.key));
  const repos = [...new Set([...live.sessions.values()].map((s) => s.record.repo).filter((r) => r !== null))].sort();
  const args = {
    host: { ...(host ? { hostId: host } : {}), ...(repo.trim() ? { repo: repo.trim() } : {}) },
    cwd: cwd.trim(),
    task: task.trim(),
    ...(group.trim() ? { group: group.trim() } : {}),
  };
  const checked = SpawnArgs.safeParse(args);
  const problem = checked.success ? null : issuesText(checked.error);
  const data = state.outcome?.ok ? (state.outcome.data as Record<string, unknown>) : null;

  const submit = (e: Event) => {
    e.preventDefault();
    setTouched(true);
    if (checked.success) void run(args);
  };

  return (
    <section class="view spawn-view" aria-labelledby={`${id}-h`}>
      <h1 id={`${id}-h`}>Spawn a session</h1>
      {!can ? (
        <p class="notice">Your role only looks: spawning needs an operator.</p>
      ) : (
        <form class="form" onSubmit={submit} noValidate>
          <label for={`${id}-host`}>Host</label>
          <select
            id={`${id}-host`}
            data-testid="spawn-host"
            value={host}
            onChange={(e) => setHost(e.currentTarget.value)}
          >
            <option value="">the least-loaded online host</option>
            {hosts.map((h) => (
              <option key={h.key} value={h.record.hostId}>
                {h.record.hostId} ({h.record.status}, {h.record.sessions} sessions)
              </option>
            ))}
          </select>
          <label for={`${id}-repo`}>Only a host with sessions in repo (optional)</label>
          <input
            id={`${id}-repo`}
            data-testid="spawn-repo"
            list={`${id}-repos`}
            value={repo}
            onInput={(e) => setRepo(e.currentTarget.value)}
          />
          <datalist id={`${id}-repos`}>
            {repos.map((r) => (
              <option key={r} value={r} />
            ))}
          </datalist>
          <label for={`${id}-cwd`}>Workspace on the host (absolute path)</label>
          <input
            id={`${id}-cwd`}
            data-testid="spawn-cwd"
            placeholder="/home/me/project"
            required
            value={cwd}
            onInput={(e) => setCwd(e.currentTarget.value)}
          />
          <label for={`${id}-task`}>Task</label>
          <textarea
            id={`${id}-task`}
            data-testid="spawn-task"
            rows={4}
            required
            value={task}
            onInput={(e) => setTask(e.currentTarget.value)}
          />
          <label for={`${id}-group`}>Group (optional)</label>
          <input
            id={`${id}-group`}
            data-testid="spawn-group"
            value={group}
            onInput={(e) => setGroup(e.currentTarget.value)}
          />
          {touched && problem && (
            <p class="error" role="alert" data-testid="spawn-invalid">
              {problem}
            </p>
          )}
          <button type="submit" data-testid="spawn-submit" disabled={state.running}>
            Spawn
          </button>
        </form>
      )}
      <CommandResult verb="spawn" outcome={state.outcome}>
        {data && typeof data.attachCommand === "string" && (
          <>
            <p>
              Attach on host <strong>{String(data.hostId)}</strong> with:{" "}
              <code data-testid="spawn-attach">{data.attachCommand}</code>
            </p>
            <p>
              <a data-testid="spawn-open" href={`#/session/${String(data.hostId)}.${String(data.sessionId)}`}>
                Open the session
              </a>
            </p>
          </>
        )}
      </CommandResult>
    </section>
  );
}
