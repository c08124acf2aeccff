/**
 * The page's measuring hooks for the benchmark and the browser tests: with `?metrics=1` in the URL,
 * `window.__clawMetrics` holds when the fleet first painted the snapshot's rows and, for each applied session
 * change whose row is on screen, how long it took from the registry's write to the screen. Without the flag
 * nothing is measured.
 */

/** What `window.__clawMetrics` holds. */
export interface ClawMetrics {
  /** `performance.now()` when the fleet first painted snapshot rows; null until then. */
  firstRenderAtMs: number | null;
  /** Per applied session change whose row is rendered: Date.now() after the frame painted minus row.writtenAtMs. */
  changeToScreen: number[];
}

declare global {
  interface Window {
    __clawMetrics?: ClawMetrics;
  }
}

const MAX_SAMPLES = 1_000_000;

/** The metrics object when `?metrics=1` is in the URL (also set as `window.__clawMetrics`), else null. */
export const metrics: ClawMetrics | null = (() => {
  if (typeof window === "undefined") return null;
  if (new URLSearchParams(window.location.search).get("metrics") !== "1") return null;
  const m: ClawMetrics = { firstRenderAtMs: null, changeToScreen: [] };
  window.__clawMetrics = m;
  return m;
})();

/** Runs `fn` after the current frame has painted: the next animation frame, then a macrotask. */
export function afterPaint(fn: () => void): void {
  requestAnimationFrame(() => setTimeout(fn, 0));
}

/** Records the fleet's first paint of snapshot rows (once). Call after a render that showed rows. */
export function markFirstRender(): void {
  if (metrics === null || metrics.firstRenderAtMs !== null) return;
  afterPaint(() => {
    if (metrics.firstRenderAtMs === null) metrics.firstRenderAtMs = performance.now();
  });
}

/**
 * After the frame that applied `changed` paints, records change-to-screen for each row that is on screen at that
 * revision (an element with its `data-key` and `data-revision`). Call from the animation frame that applied them.
 */
export function measureChanges(changed: readonly { key: string; revision: number; writtenAtMs: number }[]): void {
  if (metrics === null || changed.length === 0) return;
  // Called inside the applying animation frame: its render runs in a microtask before this frame paints,
  // so a macrotask queued now runs after the paint.
  setTimeout(() => {
    const now = Date.now();
    for (const row of changed) {
      if (metrics.changeToScreen.length >= MAX_SAMPLES) return;
      const shown = `[data-key="${CSS.escape(row.key)}"][data-revision="${row.revision}"]`;
      if (document.querySelector(shown) !== null) {
        metrics.changeToScreen.push(now - row.writtenAtMs);
      }
    }
  }, 0);
}
