/** The app-server look-ups the watcher makes beyond subscribing: loaded threads, recent turns. */
import type { Turn } from "../../schemas/codex/index.js";
import type { CodexRpcClient } from "../codex-rpc/index.js";

const LOADED_PAGE = 200;
const MAX_PAGES = 500;

/** Every loaded thread id, following `thread/loaded/list` pages. */
export async function loadedThreadIds(client: CodexRpcClient): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const result = await client.request("thread/loaded/list", { cursor: cursor ?? null, limit: LOADED_PAGE });
    ids.push(...result.data);
    cursor = result.nextCursor;
    if (!cursor) break;
  }
  return ids;
}

/** Up to `limit` of the thread's newest turns that started at or after `sinceMs` (second precision), oldest first, with items. */
export async function turnsSince(
  client: CodexRpcClient,
  threadId: string,
  sinceMs: number,
  limit = 10,
): Promise<Turn[]> {
  const page = await client.request("thread/turns/list", { threadId, sortDirection: "desc", limit, itemsView: "full" });
  const sinceSeconds = Math.floor(sinceMs / 1000) - 1;
  return page.data.filter((turn) => (turn.startedAt ?? sinceSeconds) >= sinceSeconds).reverse();
}
