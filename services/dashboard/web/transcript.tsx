/**
 * A session's transcript, read through the `read` command (so the policy service decides and audits it):
 * page 1 (the newest turns) first, older pages by cursor, page 1 read again when the session's row changes
 * (at most once a second), the summary view or, where policy allows, every item (raw).
 */
import { useEffect, useId, useRef, useState } from "preact/hooks";
import type { TranscriptTurn } from "../../../schemas/host-rpc.js";
import type { SessionRow } from "../../../schemas/dashboard.js";
import { useCommand } from "./controls.js";
import type { CommandOutcome } from "./command-text.js";
import {
  NO_PAGES,
  type TranscriptPages,
  olderCursor,
  parsePage,
  turnsOldestFirst,
  withFirstPage,
  withOlderPage,
} from "./transcript-pages.js";

/** Turns per page. */
const PAGE_TURNS = 10;
/** Changes of the row within this long are answered by one re-read of page 1. */
export const REREAD_DEBOUNCE_MS = 1_000;

type View = "summary" | "raw";

const failureText = (o: CommandOutcome): string => (o.ok ? "" : `${o.code}: ${o.message}`);

/** The transcript of `row`'s session; `canRaw` offers the raw toggle (never to a viewer: policy refuses it). */
export function Transcript(props: { row: SessionRow; canRaw: boolean }) {
  const { row } = props;
  const id = useId();
  const [view, setView] = useState<View>("summary");
  const [pages, setPages] = useState<TranscriptPages>(NO_PAGES);
  const [error, setError] = useState<string | null>(null);
  const [rawRefused, setRawRefused] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [, read] = useCommand("read");
  // Each page-1 read and each reset (session or view) gets a number; an answer to an older one is dropped.
  const firstSeq = useRef(0);
  const generation = useRef(0);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const readRevision = useRef<number | null>(null);
  const target = { sessionId: row.record.sessionId, hostId: row.record.host };
  // A timer set at an earlier render reads the row and view as they are when it fires.
  const latest = useRef({ row, view });
  latest.current = { row, view };

  const readFirst = async (v: View) => {
    const seq = ++firstSeq.current;
    readRevision.current = latest.current.row.revision;
    setLoading(true);
    const outcome = await read({ target, limit: PAGE_TURNS, view: v });
    if (seq !== firstSeq.current) return;
    setLoading(false);
    if (!outcome.ok) {
      if (v === "raw" && outcome.code === "denied") {
        setRawRefused(`raw view refused: ${outcome.message}`);
        setView("summary");
        return;
      }
      setError(failureText(outcome));
      return;
    }
    const parsed = parsePage(outcome.data);
    if (!parsed.ok) return setError(parsed.message);
    setError(null);
    setPages((p) => withFirstPage(p, parsed.page));
  };

  // A new session or view starts over from page 1.
  useEffect(() => {
    generation.current++;
    setPages(NO_PAGES);
    setError(null);
    void readFirst(view);
  }, [row.key, view]);

  // A change of the row (a turn started or ended, an item completed) re-reads page 1, at most once a second.
  useEffect(() => {
    if (readRevision.current === null || readRevision.current === row.revision || timer.current !== null) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      void readFirst(latest.current.view);
    }, REREAD_DEBOUNCE_MS);
  }, [row.revision]);
  useEffect(
    () => () => {
      if (timer.current !== null) clearTimeout(timer.current);
    },
    [],
  );

  const loadOlder = async () => {
    const cursor = olderCursor(pages);
    if (cursor === null) return;
    const gen = generation.current;
    setLoading(true);
    const outcome = await read({ target, limit: PAGE_TURNS, view, cursor });
    if (gen !== generation.current) return;
    setLoading(false);
    if (!outcome.ok) return setError(failureText(outcome));
    const parsed = parsePage(outcome.data);
    if (!parsed.ok) return setError(parsed.message);
    setPages((p) => withOlderPage(p, parsed.page));
  };

  const turns = turnsOldestFirst(pages);
  return (
    <section class="transcript" aria-labelledby={`${id}-h`} aria-busy={loading}>
      <div class="section-head">
        <h2 id={`${id}-h`}>Transcript</h2>
        {props.canRaw && (
          <label class="inline">
            <input
              type="checkbox"
              data-testid="transcript-raw"
              checked={view === "raw"}
              onChange={(e) => {
                setRawRefused(null);
                setView(e.currentTarget.checked ? "raw" : "summary");
              }}
            />{" "}
            Raw items
          </label>
        )}
        <button type="button" data-testid="transcript-refresh" onClick={() => void readFirst(view)}>
          Refresh
        </button>
      </div>
      {rawRefused && (
        <p class="notice" role="status">
          {rawRefused}
        </p>
      )}
      {error && (
        <p class="error" role="alert" data-testid="transcript-error">
          {error}
        </p>
      )}
      {olderCursor(pages) !== null && (
        <button type="button" data-testid="transcript-older" disabled={loading} onClick={() => void loadOlder()}>
          Older turns
        </button>
      )}
      {turns.length === 0 && !loading && !error && <p class="empty">No turns yet.</p>}
      <ol class="turns">
        {turns.map((t) => (
          <TurnView key={t.id} turn={t} raw={view === "raw"} />
        ))}
      </ol>
      {loading && <p class="loading">Reading…</p>}
    </section>
  );
}

function TurnView(props: { turn: TranscriptTurn; raw: boolean }) {
  const t = props.turn;
  const items = props.raw ? t.items : undefined;
  return (
    <li class="turn" data-turn={t.id} data-status={t.status}>
      <p class="turn-head">
        <span class="mono">turn {t.id}</span> <span class={`badge turn-${t.status}`}>{t.status}</span>
        {t.startedAt !== null && (
          <time dateTime={new Date(t.startedAt * msFactor(t.startedAt)).toISOString()}>
            {" "}
            {new Date(t.startedAt * msFactor(t.startedAt)).toLocaleTimeString()}
          </time>
        )}
      </p>
      <ul class="items">
        {items
          ? items.map((item, i) => <RawItem key={i} item={item} />)
          : t.messages.map((m, i) => (
              <li key={i} class={`message ${m.role}`} data-testid="transcript-item" data-role={m.role}>
                <span class="who">{m.role === "user" ? "user" : "codex"}</span>
                <div class="text">{m.text}</div>
              </li>
            ))}
      </ul>
    </li>
  );
}

/** Codex gives turn times in seconds; a value this large is already in ms. */
function msFactor(t: number): number {
  return t > 1e11 ? 1 : 1000;
}

/** A raw item's type and, when it carries text, its first line. Pure. */
function itemHeadline(item: unknown): { type: string; text: string } {
  if (item === null || typeof item !== "object") return { type: "item", text: "" };
  const o = item as { type?: unknown; text?: unknown; command?: unknown; content?: unknown };
  const type = typeof o.type === "string" ? o.type : "item";
  const contentText = Array.isArray(o.content)
    ? o.content.map((c) => (c && typeof c === "object" && typeof c.text === "string" ? c.text : "")).join(" ")
    : "";
  const text = typeof o.text === "string" ? o.text : typeof o.command === "string" ? o.command : contentText;
  const line = text.split("\n")[0] ?? "";
  return { type, text: line.length > 120 ? `${line.slice(0, 119)}…` : line };
}

function RawItem(props: { item: unknown }) {
  const { type, text } = itemHeadline(props.item);
  return (
    <li class="raw-item" data-testid="transcript-item" data-item-type={type}>
      <details>
        <summary>
          <span class="mono">{type}</span>
          {text && <span class="item-text"> {text}</span>}
        </summary>
        <pre>{JSON.stringify(props.item, null, 2)}</pre>
      </details>
    </li>
  );
}
