/**
 * What every control shares: whether the signed-in operator may use controls, a row's command target, one verb's
 * command state (running, its outcome) and the outcome line `data-testid="command-result"`.
 */
import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import type { DashboardVerb, SessionRow } from "../../../schemas/dashboard.js";
import { runCommand } from "./api.js";
import { type CommandOutcome, outcomeText } from "./command-text.js";
import { useMe } from "./live.js";
/** True when the signed-in operator may use controls (role operator; a viewer only looks). */
export function useCanControl(): boolean {
  return useMe()?.role === "operator";
}

/** The row's session as a command target: its thread id and host. */
export function targetOf(row: SessionRow): { sessionId: string; hostId: string } {
  return { sessionId: row.record.sessionId, hostId: row.record.host };
}

interface CommandState {
  running: boolean;
  outcome: CommandOutcome | null;
}

/**
 * One verb's command state and runner: `run(args)` sends it (a fresh idempotency key per call, made by
 * runCommand) and keeps its outcome; a throw (the network) becomes a failure outcome.
 */
export function useCommand(
  verb: DashboardVerb,
): [CommandState, (args: Record<string, unknown>) => Promise<CommandOutcome>] {
  const [state, setState] = useState<CommandState>({ running: false, outcome: null });
  const live = useRef(true);
  useEffect(
    () => () => {
      live.current = false;
    },
    [],
  );
  const run = async (args: Record<string, unknown>): Promise<CommandOutcome> => {
    setState({ running: true, outcome: null });
    let outcome: CommandOutcome;
    try {
      outcome = (await runCommand(verb, args)) as CommandOutcome;
    } catch (err) {
      outcome = { ok: false, code: "unavailable", message: `the dashboard did not answer: ${String(err)}` };
    }
    if (live.current) setState({ running: false, outcome });
    return outcome;
  };
  return [state, run];
}

/** A command's outcome line (nothing before the first run). */
export function CommandResult(props: {
  verb: DashboardVerb;
  outcome: CommandOutcome | null;
  children?: ComponentChildren;
}) {
  const { outcome } = props;
  if (outcome === null) return null;
  return (
    <div
      class={`command-result ${outcome.ok ? "ok" : "failed"}`}
      data-testid="command-result"
      data-verb={props.verb}
      data-ok={String(outcome.ok)}
      role="status"
    >
      {outcomeText(props.verb, outcome)}
      {props.children}
    </div>
  );
}
