/**
 * The session view's transcript as pages of the `read` command (newest turns first in each page, the next page
 * by cursor): page 1 is re-read when the session changes, older pages are kept as they were read. Pure; no DOM.
 */
import { z } from "zod";
import { HostReadResult, type TranscriptTurn } from "../../../schemas/host-rpc.js";

/** One page as `read` answers it. */
export type TranscriptPage = z.infer<typeof HostReadResult>;

/** The pages read so far, newest first; empty before the first read. */
export interface TranscriptPages {
  pages: TranscriptPage[];
}

/** No page read yet. */
export const NO_PAGES: TranscriptPages = { pages: [] };

/** A `read` result's data as a page, or an error naming what was wrong. Pure. */
export function parsePage(data: unknown): { ok: true; page: TranscriptPage } | { ok: false; message: string } {
  const parsed = HostReadResult.safeParse(data);
  if (parsed.success) return { ok: true, page: parsed.data };
  return { ok: false, message: `the read answer was not a transcript page: ${z.prettifyError(parsed.error)}` };
}

/** The pages with page 1 replaced by a fresh read; older pages stay. Pure. */
export function withFirstPage(state: TranscriptPages, page: TranscriptPage): TranscriptPages {
  return { pages: [page, ...state.pages.slice(1)] };
}

/** The pages with an older page (read with `olderCursor`) appended. Pure. */
export function withOlderPage(state: TranscriptPages, page: TranscriptPage): TranscriptPages {
  return { pages: [...state.pages, page] };
}

/** The cursor of the next older page, or null when the oldest turn is shown (or nothing was read). Pure. */
export function olderCursor(state: TranscriptPages): string | null {
  return state.pages.at(-1)?.nextCursor ?? null;
}

/**
 * Every turn read, oldest first, each once: a turn in a newer page (page 1 re-read after it moved on) wins over
 * its copy in an older one. Pure.
 */
export function turnsOldestFirst(state: TranscriptPages): TranscriptTurn[] {
  const seen = new Set<string>();
  const newestFirst: TranscriptTurn[] = [];
  for (const page of state.pages)
    for (const turn of page.turns) {
      if (seen.has(turn.id)) continue;
      seen.add(turn.id);
      newestFirst.push(turn);
    }
  return newestFirst.reverse();
}
