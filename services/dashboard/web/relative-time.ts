/**
 * Times as people read them in a list: "just now", "42 s ago", "5 min ago", "3 h ago", "2 d ago" (and "in 30 s"
 * for a time ahead, such as an approval's deadline). Pure, plus a hook that re-renders a component as the words age.
 */
import { useEffect, useState } from "preact/hooks";

/** `ms` (unix ms) relative to `now`, in a few characters. Pure. */
export function relativeTime(ms: number, now: number = Date.now()): string {
  const delta = now - ms;
  const ahead = delta < 0;
  const s = Math.floor(Math.abs(delta) / 1000);
  if (s < 5) return ahead ? "in a moment" : "just now";
  let text: string;
  if (s < 60) text = `${s} s`;
  else if (s < 3_600) text = `${Math.floor(s / 60)} min`;
  else if (s < 86_400) text = `${Math.floor(s / 3_600)} h`;
  else text = `${Math.floor(s / 86_400)} d`;
  return ahead ? `in ${text}` : `${text} ago`;
}

/** A length of time in a few characters: "3 s", "5 min", "2 h 10 min", "3 d 4 h". Pure. */
export function durationText(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3_600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) {
    const m = Math.floor((s % 3_600) / 60);
    return `${Math.floor(s / 3_600)} h${m > 0 ? ` ${m} min` : ""}`;
  }
  const h = Math.floor((s % 86_400) / 3_600);
  return `${Math.floor(s / 86_400)} d${h > 0 ? ` ${h} h` : ""}`;
}

/** A past moment (last activity, a heartbeat) relative to `now`; a time ahead (clock skew) reads "just now". Pure. */
export function agoTime(ms: number, now: number = Date.now()): string {
  return relativeTime(Math.min(ms, now), now);
}

/** The current time, re-rendering the component every `everyMs` (a local clock for relative times, not a poll). */
export function useNow(everyMs = 10_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}
