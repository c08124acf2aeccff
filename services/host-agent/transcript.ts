/** A thread's turns as a command's caller reads them: what `read` answers, redacted. */
import type { Turn } from "../../schemas/codex/index.js";
import type { TranscriptTurn } from "../../schemas/host-rpc.js";
import { redact } from "../../schemas/redact.js";

/** One turn of a transcript: user and agent messages (redacted), and every item (redacted) in the raw view. Pure. */
export function transcriptTurn(turn: Turn, view: "summary" | "raw"): TranscriptTurn {
  const messages: TranscriptTurn["messages"] = [];
  for (const item of turn.items) {
    if (item.type === "userMessage" && "content" in item && Array.isArray(item.content)) {
      const text = item.content
        .flatMap((c) => (c.type === "text" && typeof c.text === "string" ? [c.text] : []))
        .join("\n");
      messages.push({ role: "user", text: redact(text) });
    } else if (item.type === "agentMessage" && "text" in item && typeof item.text === "string") {
      messages.push({ role: "agent", text: redact(item.text) });
    }
  }
  return {
    id: turn.id,
    status: turn.status,
    startedAt: turn.startedAt ?? null,
    completedAt: turn.completedAt ?? null,
    messages,
    ...(view === "raw" ? { items: turn.items.map((item) => redact(item)) } : {}),
  };
}
