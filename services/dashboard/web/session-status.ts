/**
 * A session's state in words and a tone for its badge, so a wait never looks idle and unknown or stale never look
 * like anything else. Pure.
 */
import type { SessionRecord } from "../../../schemas/registry.js";

/** The badge's colour family. */
export type StatusTone = "needs" | "active" | "idle" | "error" | "stale" | "closed";

/** What the session is doing: "needs approval", "needs input", "needs an answer", else its status. Pure. */
export function statusLabel(r: SessionRecord): string {
  if (r.approval !== null || r.waitingOn === "approval") return "needs approval";
  if (r.waitingOn === "userInput") return "needs input";
  if (r.ask !== null) return "needs an answer";
  return r.status;
}

/** The badge's tone for `statusLabel(r)`. Pure. */
export function statusTone(r: SessionRecord): StatusTone {
  if (r.approval !== null || r.waitingOn !== null || r.ask !== null) return "needs";
  switch (r.status) {
    case "active":
    case "steering":
      return "active";
    case "error":
      return "error";
    case "stale":
    case "unknown":
      return "stale";
    case "closed":
      return "closed";
    default:
      return "idle";
  }
}

/** Who is with the session: "person attached" or "autonomous" (or neither). Pure. */
export function presenceLabel(r: SessionRecord): string {
  return r.humanAttached ? "person attached" : r.autonomous ? "autonomous" : "no person attached";
}

/** Where the session works: `repo@branch` when known, else the workspace's last part. Pure. */
export function placeLabel(r: SessionRecord): string {
  if (r.repo !== null) return r.branch !== null ? `${r.repo}@${r.branch}` : r.repo;
  if (r.workspace !== null) return r.workspace.split("/").filter(Boolean).pop() ?? r.workspace;
  return "—";
}

/** The progress line: "42% running tests", the summary, or nothing. Pure. */
export function progressLabel(r: SessionRecord): string {
  const p = r.progress;
  const head = p === null ? "" : [p.percent === null ? "" : `${p.percent}%`, p.step ?? ""].filter(Boolean).join(" ");
  return [head, r.summary ?? ""].filter(Boolean).join(" · ");
}
