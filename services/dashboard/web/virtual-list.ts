/**
 * `useVirtualizer`: @tanstack/virtual-core's Virtualizer bound to a Preact component scrolling its own element,
 * so only the rows in view (plus a few) are rendered.
 */
import {
  type VirtualItem,
  Virtualizer,
  type VirtualizerOptions,
  elementScroll,
  observeElementOffset,
  observeElementRect,
} from "@tanstack/virtual-core";
import { useLayoutEffect, useReducer, useState } from "preact/hooks";

/** The options the caller gives (the scroll element's observers and scrolling are filled in). */
export type VirtualListOptions = Pick<
  VirtualizerOptions<HTMLElement, HTMLElement>,
  "count" | "getScrollElement" | "estimateSize" | "getItemKey" | "overscan"
>;

/** A virtualizer that re-renders the component when its range or size changes. */
export function useVirtualizer(opts: VirtualListOptions): Virtualizer<HTMLElement, HTMLElement> {
  const [, rerender] = useReducer((n: number) => n + 1, 0);
  const resolved: VirtualizerOptions<HTMLElement, HTMLElement> = {
    observeElementRect,
    observeElementOffset,
    scrollToFn: elementScroll,
    ...opts,
    onChange: () => rerender(0),
  };
  const [instance] = useState(() => new Virtualizer<HTMLElement, HTMLElement>(resolved));
  instance.setOptions(resolved);
  useLayoutEffect(() => instance._didMount(), []);
  useLayoutEffect(() => {
    instance._willUpdate();
  });
  return instance;
}

export type { VirtualItem };
