/** Turn look-ups built on the client: the app-server's Thread has no active-turn field. */
import type { CodexRpcClient } from "./client.js";
import type { CallOptions } from "./options.js";

/**
 * The id of the thread's in-progress turn, or null when its newest turn is not in progress.
 * For late joiners: asks `thread/turns/list` for the newest turn only, without its items.
 */
export async function findActiveTurnId(
  client: CodexRpcClient,
  threadId: string,
  call?: CallOptions,
): Promise<string | null> {
  const page = await client.request(
    "thread/turns/list",
    { threadId, sortDirection: "desc", limit: 1, itemsView: "notLoaded" },
    call,
  );
  const newest = page.data[0];
  return newest && newest.status === "inProgress" ? newest.id : null;
}
